"""Files from outside: only regular files are opened, names are printed on one line, modes follow the umask.

A FIFO, socket or device named like an image or preset would block a reader forever (or never end), so
every reader of user-named files asks ``regular_file`` first; a newline in a file name would split a line
of plain-text output, so names are printed through ``printable``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ConfigError

#: characters that would break a line of plain-text output, and how they are shown instead
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F)} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def is_regular(path: Path | str) -> bool:
    """Whether ``path`` is a regular file (following symlinks); FIFOs, devices and sockets are not."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def regular_file(path: Path | str, what: str) -> Path:
    """``path`` if it is a regular file; otherwise a one-line ConfigError naming it and what it is instead."""
    path = Path(path).expanduser()
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(f"{what} '{printable(path)}': no such file") from None
    except OSError as exc:
        raise ConfigError(f"{what} '{printable(path)}': cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{what} '{printable(path)}' is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{what} '{printable(path)}' is not a regular file (a FIFO, socket or device); give a file")
    return path


def read_text(path: Path | str, what: str) -> str:
    """A user-named text file's contents (regular files only); failures are one line naming the file."""
    path = regular_file(path, what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} '{printable(path)}' is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{what} '{printable(path)}': cannot read it ({exc.strerror})") from None


def printable(text: object) -> str:
    """``text`` with control characters (newlines included) escaped, so it stays on one line."""
    return str(text).translate(_ESCAPES)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-by-setting, put straight back
    os.umask(mask)
    return mask


def ordinary_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: 0o666 less the umask."""
    return 0o666 & ~current_umask()
