"""A real `pixforge serve` for the studio tests: started on a free 127.0.0.1 port in a subprocess, stopped by PID.

Plain ``urllib`` talks to it, so the tests need nothing the studio itself does not.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

#: renders the tests make: the default preset's tiny models at 32 px with few cutouts (a second or two)
FAST = {"size": 32, "overrides": ["cutouts.count=4"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Answer:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    """One ``pixforge serve`` process with its own runs folder."""

    def __init__(self, runs: Path, workers: int = 1, inputs: Path | None = None, token: str | None = None) -> None:
        self.runs = runs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = runs.parent / f"server-{self.port}.log"
        command = [sys.executable, "-m", "pixforge.cli", "serve", "--port", str(self.port), "--runs", str(runs),
                   "--workers", str(workers), "--threads", "1"]
        if inputs is not None:
            command += ["--inputs", str(inputs)]
        if token is not None:
            command += ["--token", token]
        self.token = token
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=env)

    def wait_ready(self, timeout: float = 90.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pixforge serve exited ({self.process.returncode}): {self.log.read_text()}")
            try:
                if self.call("GET", "/api/health").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"pixforge serve did not answer in {timeout} s: {self.log.read_text()}")

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
        data: bytes | None = None, token: bool = True,
    ) -> Answer:
        sent = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if token and self.token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read(), dict(exc.headers))

    def announce(self, path: str, length: int, headers: dict[str, str]) -> Answer:
        """A POST that announces a body of ``length`` bytes and sends none: the answer a size limit gives."""
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest("POST", path)
            sent = {**headers, "Content-Length": str(length)}
            if self.token:
                sent["Authorization"] = f"Bearer {self.token}"
            for key, value in sent.items():
                connection.putheader(key, value)
            connection.endheaders()
            response = connection.getresponse()
            return Answer(response.status, response.read(), dict(response.headers))
        finally:
            connection.close()

    def render(self, prompt: str, **fields: Any) -> dict[str, Any]:
        answer = self.call("POST", "/api/renders", {"prompt": prompt, **FAST, **fields})
        assert answer.status == 201, answer.body
        return answer.json()

    def wait(self, job_id: str, until: Any, timeout: float = 90.0) -> dict[str, Any]:
        """Poll a job until ``until(job)`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.call("GET", f"/api/renders/{job_id}").json()
            if until(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not get there in {timeout} s: {job}")

    def finished(self, job_id: str, timeout: float = 90.0) -> dict[str, Any]:
        return self.wait(job_id, lambda job: job["status"] in ("completed", "failed", "cancelled"), timeout)

    def events(self, job_id: str, timeout: float = 90.0) -> list[tuple[str, dict[str, Any]]]:
        """Every server-sent event of a job, until its ``end`` event."""
        request = urllib.request.Request(f"{self.url}/api/renders/{job_id}/events")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        found: list[tuple[str, dict[str, Any]]] = []
        event = ""
        with urllib.request.urlopen(request, timeout=timeout) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    found.append((event, json.loads(line[6:])))
                    if event == "end":
                        return found
        return found

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM (uvicorn shuts down and stops the workers), then SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode
