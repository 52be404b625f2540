"""Verified downloads against a real HTTP server on 127.0.0.1: resume, mirrors, checksums, locks, offline.

The download code is not mocked. Every request is bounded: short timeouts, few attempts, small files.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pixforge.weights import DownloadError, FetchOptions, WeightFile, fetch_file

PAYLOAD = bytes(range(256)) * 256  # 64 KiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FileServer:
    """A real HTTP server serving in-memory files, with Range support and faults on demand.

    ``cuts[path] = n``: the next n answers for ``path`` send the full Content-Length, half the body, and
    close the socket. ``requests`` records (path, Range header) of every GET. ``delay``: seconds per 8 KiB.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cuts: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.delay = 0.0
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                with state.lock:
                    state.requests.append((self.path, self.headers.get("Range")))
                    cut = state.cuts.get(self.path, 0) > 0
                    if cut:
                        state.cuts[self.path] -= 1
                data = state.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                for offset in range(0, len(body), 8192):
                    self.wfile.write(body[offset : offset + 8192])
                    if state.delay:
                        time.sleep(state.delay)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def gets(self, path: str) -> list[str | None]:
        """The Range header of every request for ``path``."""
        return [rng for p, rng in self.requests if p == path]

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    with FileServer() as running:
        running.files["/w.bin"] = PAYLOAD
        yield running


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: the connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/w.bin"


FAST = FetchOptions(allow_download=True, timeout=5, lock_timeout=20, attempts=3, progress=False)


def weight(*urls: str, sha256: str | None = SHA, size: int | None = len(PAYLOAD)) -> WeightFile:
    return WeightFile("w.bin", urls=urls, sha256=sha256, size=size)


def leftovers(dest: Path) -> list[str]:
    """Files beside ``dest`` other than the lock (a lock file is not a partial download)."""
    return sorted(p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")) if dest.parent.exists() else []


def test_download_verifies_and_renames_into_place(server, tmp_path):
    dest = tmp_path / "cache" / "w.bin"
    assert fetch_file("m", weight(server.url("/w.bin")), dest, FAST) == dest
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SHA
    assert leftovers(dest) == ["w.bin"]
    fetch_file("m", weight(server.url("/w.bin")), dest, FAST)  # present: no second request
    assert server.gets("/w.bin") == [None]


def test_resumes_with_a_range_request_after_a_cut(server, tmp_path):
    server.cuts["/w.bin"] = 1
    dest = tmp_path / "w.bin"
    fetch_file("m", weight(server.url("/w.bin")), dest, FAST)
    assert server.gets("/w.bin") == [None, f"bytes={len(PAYLOAD) // 2}-"]
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SHA
    assert leftovers(dest) == ["w.bin"]


def test_a_cut_part_is_kept_and_a_later_fetch_resumes_it(server, tmp_path):
    server.cuts["/w.bin"] = 2
    dest = tmp_path / "w.bin"
    options = FetchOptions(allow_download=True, timeout=5, attempts=2, progress=False)
    with pytest.raises(DownloadError, match="partial file w.bin.part is kept") as error:
        fetch_file("m", weight(server.url("/w.bin")), dest, options)
    assert "connection cut" in str(error.value)
    part = tmp_path / "w.bin.part"
    assert 0 < part.stat().st_size < len(PAYLOAD) and not dest.exists()
    fetch_file("m", weight(server.url("/w.bin")), dest, options)
    assert server.gets("/w.bin")[-1] == f"bytes={part_size_before(len(PAYLOAD))}-"
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def part_size_before(total: int) -> int:
    """After two cuts, each sending half of what was left: 1/2 + 1/4 of the file."""
    return total // 2 + (total - total // 2) // 2


def test_wrong_checksum_discards_the_file(server, tmp_path):
    dest = tmp_path / "w.bin"
    with pytest.raises(DownloadError) as error:
        fetch_file("mymodel", weight(server.url("/w.bin"), sha256="0" * 64), dest, FAST)
    message = str(error.value)
    assert "'mymodel'" in message and "'w.bin'" in message and "SHA-256" in message and "discarded" in message
    assert str(dest) in message and "\n" not in message
    assert leftovers(dest) == []


def test_a_404_mirror_falls_through_to_the_next(server, tmp_path):
    dest = tmp_path / "w.bin"
    fetch_file("m", weight(server.url("/gone.bin"), server.url("/w.bin")), dest, FAST)
    assert [p for p, _ in server.requests] == ["/gone.bin", "/w.bin"]
    assert dest.read_bytes() == PAYLOAD


def test_no_server_is_one_clear_error_and_leaves_nothing(tmp_path):
    dest = tmp_path / "cache" / "vqgan" / "m" / "w.bin"
    started = time.monotonic()
    with pytest.raises(DownloadError) as error:
        fetch_file("m", weight(closed_port_url(), closed_port_url()), dest, FAST)
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert "model 'm'" in message and "'w.bin'" in message and f"place it at {dest}" in message
    assert "refused" in message.lower() and "\n" not in message
    assert leftovers(dest) == []


def test_two_concurrent_fetches_download_once(server, tmp_path):
    server.delay = 0.03  # ~0.25 s per download, so both threads overlap
    dest = tmp_path / "w.bin"
    barrier = threading.Barrier(2, timeout=10)
    results: list[object] = []

    def fetch() -> None:
        barrier.wait()
        try:
            results.append(fetch_file("m", weight(server.url("/w.bin")), dest, FAST))
        except Exception as exc:  # pragma: no cover - reported below
            results.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == [dest, dest]
    assert server.gets("/w.bin") == [None]
    assert dest.read_bytes() == PAYLOAD


def test_offline_switch_names_the_path_and_asks_nothing(server, tmp_path, monkeypatch):
    dest = tmp_path / "w.bin"
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    with pytest.raises(DownloadError, match="downloads are off") as error:
        fetch_file("m", weight(server.url("/w.bin")), dest, FetchOptions(progress=False))
    assert f"place it at {dest}" in str(error.value)
    monkeypatch.delenv("PIXFORGE_OFFLINE")
    with pytest.raises(DownloadError, match="downloads are off"):
        fetch_file("m", weight(server.url("/w.bin")), dest, FetchOptions(allow_download=False))
    assert server.requests == [] and leftovers(dest) == []


def test_a_complete_part_left_by_a_crash_is_finished_without_a_request(server, tmp_path):
    dest = tmp_path / "w.bin"
    (tmp_path / "w.bin.part").write_bytes(PAYLOAD)
    fetch_file("m", weight(server.url("/w.bin")), dest, FAST)
    assert server.requests == [] and dest.read_bytes() == PAYLOAD


def test_a_mirror_offering_the_wrong_size_is_skipped(server, tmp_path):
    server.files["/short.bin"] = PAYLOAD[:1000]
    dest = tmp_path / "w.bin"
    fetch_file("m", weight(server.url("/short.bin"), server.url("/w.bin")), dest, FAST)
    assert dest.read_bytes() == PAYLOAD


def test_force_downloads_again(server, tmp_path):
    dest = tmp_path / "w.bin"
    dest.write_bytes(b"stale")
    fetch_file("m", weight(server.url("/w.bin")), dest, FetchOptions(allow_download=True, force=True, progress=False))
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 1


def test_a_file_of_the_wrong_size_in_place_is_an_error_not_a_silent_use(server, tmp_path):
    dest = tmp_path / "w.bin"
    dest.write_bytes(PAYLOAD[:10])
    with pytest.raises(DownloadError, match="has 10 bytes, expected 65536.*--force"):
        fetch_file("m", weight(server.url("/w.bin")), dest, FAST)
    assert dest.read_bytes() == PAYLOAD[:10] and server.requests == []


def test_the_progress_bar_path_downloads_the_same(server, tmp_path, capsys):
    dest = tmp_path / "w.bin"
    fetch_file("m", weight(server.url("/w.bin")), dest, FetchOptions(allow_download=True, timeout=5, progress=True))
    assert dest.read_bytes() == PAYLOAD
    assert "w.bin" in capsys.readouterr().err
