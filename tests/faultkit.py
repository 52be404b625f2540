"""Helpers for the fault tests: run the CLI (in this process or a real one) and check it failed cleanly."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import warnings
import zlib
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

#: the smallest render that still runs every stage
TINY = ["--steps", "1", "--size", "32", "--set", "cutouts.count=2", "--seed", "0", "-q"]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def clean_failure(self) -> bool:
        """Failed with one ``pixforge: error:`` line and no traceback."""
        lines = [line for line in self.err.splitlines() if line.startswith("pixforge: error:")]
        return self.code not in (0, None) and len(lines) == 1 and "Traceback" not in self.err + self.out

    def explain(self) -> str:
        return f"exit {self.code}\nstdout: {self.out[-2000:]}\nstderr: {self.err[-3000:]}"


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Ran:
    """``pixforge ARGS`` through ``pixforge.cli.main`` in this process (the real entry point's handling)."""
    from pixforge.cli import main

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() installs its own; undo after
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def _ignore_xfsz_and_limit(limit: int):
    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


def run_process(*args: str, timeout: float = 120, file_limit: int | None = None, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> Ran:
    """``python -m pixforge.cli ARGS`` in a real process; ``file_limit`` bytes per file simulates a full disk."""
    done = subprocess.run(
        [sys.executable, "-m", "pixforge.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", **(env or {})},
        preexec_fn=_ignore_xfsz_and_limit(file_limit) if file_limit is not None else None,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def answers_ctrl_c() -> None:
    """``preexec_fn`` for a child the test stops with SIGINT: a suite started in the background (``cmd &``)
    inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt, so the child would run on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width``×``height`` but holds almost nothing: a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))
    return path


def leftovers(folder: Path) -> list[str]:
    """Temporary files of interrupted writes under ``folder`` (there must be none)."""
    return sorted(str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name)


class FifoWatch:
    """A FIFO that nothing may read: a thread keeps offering its write end, so a reader that opens it is
    released at once (the test cannot hang) and is caught (``opened`` turns true)."""

    def __init__(self, path: Path) -> None:
        import threading

        self.path = path
        os.mkfifo(path)
        self.opened = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._offer, daemon=True)

    def _offer(self) -> None:
        import errno
        import time

        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    raise
                time.sleep(0.05)
                continue
            self.opened = True
            os.close(fd)

    def __enter__(self) -> FifoWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
