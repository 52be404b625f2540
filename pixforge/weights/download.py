"""Verified, resumable downloads into the cache: nothing half-written is ever found under a file's name.

A file streams into ``<file>.part`` and is renamed into place only once its size and SHA-256 match.
A lock on ``<file>.lock`` makes a second process wait and then find the file done. Mirrors are tried in
order. When the connection is cut mid-file the ``.part`` is kept and resumed with an HTTP Range request
(here, up to ``attempts`` times per mirror, and by any later fetch); when a mirror sends wrong bytes the
``.part`` is deleted; when no mirror answers at all nothing is written.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import PixforgeError
from ..version import __version__
from .cache import OFFLINE_ENV, mismatch, offline
from .entries import WeightFile
from .progress import byte_progress

CHUNK = 1 << 16


class DownloadError(PixforgeError):
    """A model file that could not be fetched; the message says where to place it by hand."""


class _Cut(Exception):
    """The connection ended before the whole body arrived: the .part is worth resuming."""


class _Bad(Exception):
    """The mirror sent bytes that cannot be the file: the .part must go."""


class _Unreachable(Exception):
    """The mirror could not be asked (refused, DNS, HTTP error): nothing was written."""


@dataclass(frozen=True)
class FetchOptions:
    """How a fetch behaves; the defaults suit an interactive user."""

    #: None: allowed unless PIXFORGE_OFFLINE is set
    allow_download: bool | None = None
    #: download again even when the file is in place
    force: bool = False
    #: seconds a connect or a read may stall
    timeout: float = 30.0
    #: seconds to wait for another process downloading the same file
    lock_timeout: float = 6 * 3600.0
    #: requests per mirror while each one is cut short
    attempts: int = 3
    #: None: a progress bar when stderr is a terminal
    progress: bool | None = None


def _user_agent() -> str:
    return f"pixforge/{__version__} (+model download)"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _host(url: str) -> str:
    return urllib.parse.urlparse(url).netloc or url


def _open(url: str, have: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416:
            raise _Bad("HTTP 416 (the partial file does not fit this mirror)") from None
        raise _Unreachable(_reason(exc)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise _Unreachable(_reason(exc)) from None


def _resume_offset(response: http.client.HTTPResponse, have: int) -> int:
    """Where the body starts: ``have`` for a matching 206, 0 for a full 200 answer."""
    if response.status != 206:
        return 0
    match = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    if not match or int(match.group(1)) != have:
        raise _Bad(f"the mirror resumed at the wrong offset ({response.headers.get('Content-Range')!r})")
    return have


def _attempt(url: str, part: Path, file: WeightFile, options: FetchOptions) -> None:
    """One request: append to or restart ``part``; raise _Cut, _Bad or _Unreachable when it falls short."""
    have = part.stat().st_size if part.exists() else 0
    with _open(url, have, options.timeout) as response:
        start = _resume_offset(response, have)
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length is not None and length.isdigit() else file.size
        if file.size is not None and expected is not None and expected != file.size:
            raise _Bad(f"the mirror offers {expected} bytes, expected {file.size}")
        received = start
        with open(part, "ab" if start else "wb") as out, byte_progress(
            file.name, expected, start, options.progress
        ) as advance:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (TimeoutError, http.client.IncompleteRead, ConnectionError, OSError) as exc:
                    raise _Cut(f"connection cut after {received} bytes ({_reason(exc)})") from None
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                advance(len(chunk))
                if expected is not None and received > expected:
                    raise _Bad(f"the mirror sent more than {expected} bytes")
        if expected is not None and received < expected:
            raise _Cut(f"connection cut after {received} of {expected} bytes")


def _finish(part: Path, dest: Path, file: WeightFile) -> str | None:
    """Rename a verified ``part`` into place, or delete it and say what was wrong."""
    wrong = mismatch(part, file)
    if wrong is not None:
        part.unlink(missing_ok=True)
        return wrong
    os.replace(part, dest)
    return None


def _from_mirrors(part: Path, dest: Path, file: WeightFile, options: FetchOptions) -> tuple[list[str], bool]:
    """Try every mirror in order; return what went wrong with each, and whether ``part`` is resumable."""
    problems: list[str] = []
    resumable = part.exists()
    if resumable and file.size is not None and part.stat().st_size >= file.size:
        wrong = _finish(part, dest, file)  # complete before a crash stopped the rename
        if wrong is None:
            return [], False
        resumable = False
    for url in file.urls:
        for _ in range(max(1, options.attempts)):
            try:
                _attempt(url, part, file, options)
            except _Cut as cut:
                resumable, problem = True, f"{_host(url)}: {cut}"
                continue
            except _Bad as bad:
                part.unlink(missing_ok=True)
                resumable, problem = False, f"{_host(url)}: {bad}"
            except _Unreachable as exc:
                problem = f"{_host(url)}: {exc}"
            else:
                wrong = _finish(part, dest, file)
                if wrong is None:
                    return [], False
                resumable, problem = False, f"{_host(url)}: wrong file ({wrong}); discarded"
            break
        problems.append(problem)
    return problems, resumable


def _manual(model: str, file: WeightFile, dest: Path) -> str:
    where = f" (from {file.urls[0]})" if file.urls else ""
    return f"download '{file.name}' by hand{where} and place it at {dest}"


def fetch_file(model: str, file: WeightFile, dest: Path, options: FetchOptions | None = None) -> Path:
    """``dest`` holding ``file`` of ``model``, downloaded if missing; a DownloadError says how to fix a failure.

    A file already in place is trusted (it was verified before its rename); ``pixforge models verify``
    re-hashes the cache.
    """
    from filelock import FileLock, Timeout

    options = options or FetchOptions()
    if dest.is_file() and not options.force:
        size = dest.stat().st_size
        if file.size is not None and size != file.size:  # placed by hand, or cut short by a copy
            raise DownloadError(
                f"model '{model}': file {dest} has {size} bytes, expected {file.size}; replace it, or run "
                f"`pixforge models fetch --force {model}`"
            )
        return dest
    allowed = options.allow_download if options.allow_download is not None else not offline()
    if not allowed:
        why = f" ({OFFLINE_ENV} is set)" if options.allow_download is None else ""
        raise DownloadError(
            f"model '{model}': file '{file.name}' is not in the cache and downloads are off{why}; "
            f"{_manual(model, file, dest)}"
        )
    if not file.urls:
        raise DownloadError(f"model '{model}': file '{file.name}' has no download address; place it at {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with FileLock(str(dest.with_name(dest.name + ".lock")), timeout=options.lock_timeout):
            if dest.is_file() and not options.force:
                return dest  # another process finished it while we waited
            problems, resumable = _from_mirrors(part, dest, file, options)
    except Timeout:
        raise DownloadError(
            f"model '{model}': another process has been downloading '{file.name}' for over "
            f"{options.lock_timeout:.0f} s (lock {dest}.lock); wait for it, or stop it and try again"
        ) from None
    if not problems:
        return dest
    kept = f"; the partial file {part.name} is kept and a new fetch resumes it" if resumable else ""
    if not resumable:
        part.unlink(missing_ok=True)
    raise DownloadError(
        f"model '{model}': could not download '{file.name}' ({'; '.join(problems)}){kept}; "
        f"check the network or {_manual(model, file, dest)}"
    )
