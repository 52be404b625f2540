"""Faults of the machine rather than the input (a full or read-only disk, memory running out), told in one line.

Every file pixforge finishes is written under a temporary name and renamed into place, so a write that
fails leaves the previous file or none, never half of one; the message says so.
"""

from __future__ import annotations

import errno

from .files import printable

#: errno → what to do about it
_HINTS = {
    errno.ENOSPC: "the disk is full; free some space",
    errno.EFBIG: "the file is over the size this process may write (disk quota or ulimit -f)",
    errno.EDQUOT: "the disk quota is used up; free some space",
    errno.EROFS: "the file system is read-only; give a writable --out",
    errno.EACCES: "permission denied; give a folder you may write to",
    errno.EPERM: "not permitted; give a folder you may write to",
    errno.ENOTDIR: "a file stands where a folder is needed",
    errno.EISDIR: "a folder stands where a file is needed",
    errno.ENOENT: "the folder does not exist and cannot be made there",
}
LOW_MEMORY = "lower --size, cutouts.count or --candidates (or use a smaller model)"


def is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError, torch's OutOfMemoryError, or the RuntimeError CPU allocators raise when they fail."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and any(sign in text.lower() for sign in ("not enough memory", "out of memory", "can't allocate memory"))
    )


def describe_system_error(exc: BaseException) -> str:
    """One line for an OSError or an out-of-memory error: which path, what happened, what to do."""
    if is_out_of_memory(exc):
        return f"out of memory; {LOW_MEMORY}"
    if isinstance(exc, OSError):
        where = next((f"'{printable(name)}': " for name in (exc.filename, exc.filename2) if name), "")
        what = exc.strerror or str(exc) or type(exc).__name__
        hint = _HINTS.get(exc.errno or 0)
        return f"{where}{what}" + (f" ({hint})" if hint else "") + (
            "; nothing half-written was left (files are renamed into place only when complete)"
        )
    return f"{type(exc).__name__}: {exc}"
