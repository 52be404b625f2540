"""pixforge serve: time from POST to the first progress event, and renders per minute through the queue.

Starts a real `pixforge serve` on 127.0.0.1 (a free port, a temporary runs folder) for each worker count,
warms every worker with one render (models loaded), then:

- first progress: POST /api/renders, open its event stream, time until the first ``progress`` event with
  step >= 1 (a warm worker, an idle queue); the cold figure is the first render after the server started;
- throughput: POST ``--jobs`` renders at once and time until the last one completed.

    python bench/studio.py --workers 1,2 --threads 1 --size 64 --steps 30 --jobs 8
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Studio:
    def __init__(self, runs: Path, workers: int, threads: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", "PIXFORGE_LOAD_PLUGINS": ""}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pixforge.cli", "serve", "--port", str(self.port), "--runs", str(runs),
             "--workers", str(workers), "--threads", str(threads)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                self.get("/api/health")
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("pixforge serve did not start")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=120) as response:
            return json.loads(response.read())

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(self.url + "/api/renders", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def first_progress(self, body: dict[str, Any]) -> float:
        """Seconds from the POST to the first progress event of a step >= 1 (the render then runs on)."""
        start = time.perf_counter()
        job = self.post(body)
        with urllib.request.urlopen(f"{self.url}/api/renders/{job['id']}/events", timeout=300) as stream:
            event = ""
            for raw in stream:
                line = raw.decode().strip()
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "progress" and json.loads(line[6:])["step"] >= 1:
                    elapsed = time.perf_counter() - start
                    break
        self.wait_all([job["id"]])
        return elapsed

    def wait_all(self, ids: list[str]) -> None:
        pending = set(ids)
        while pending:
            for job_id in list(pending):
                state = self.get(f"/api/renders/{job_id}")["status"]
                if state in ("completed", "failed", "cancelled"):
                    if state != "completed":
                        raise SystemExit(f"job {job_id} ended {state}")
                    pending.discard(job_id)
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cutouts", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=8, help="renders queued at once for the throughput figure")
    parser.add_argument("--probes", type=int, default=3, help="warm first-progress measurements")
    args = parser.parse_args()

    body = {"prompt": "a red circle on a blue background", "size": args.size, "steps": args.steps,
            "overrides": [f"cutouts.count={args.cutouts}"]}
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start; preset default, "
          f"{args.size}x{args.size} px, {args.steps} steps, {args.cutouts} cutouts, {args.threads} torch thread(s) a worker")
    print(f"{'workers':>7} {'cold first progress s':>22} {'warm first progress s':>22} {'renders/min':>12} {'load':>5}")
    for workers in [int(w) for w in args.workers.split(",")]:
        with tempfile.TemporaryDirectory() as folder:
            studio = Studio(Path(folder) / "runs", workers, args.threads)
            try:
                cold = studio.first_progress({**body, "seed": 0})
                warmups = [studio.post({**body, "seed": 100 + w})["id"] for w in range(workers)]
                studio.wait_all(warmups)  # every worker has its models now
                warm = [studio.first_progress({**body, "seed": 200 + i}) for i in range(args.probes)]
                start = time.perf_counter()
                ids = [studio.post({**body, "seed": 300 + i})["id"] for i in range(args.jobs)]
                studio.wait_all(ids)
                per_minute = args.jobs / (time.perf_counter() - start) * 60
            finally:
                studio.stop()
        print(f"{workers:>7} {cold:>22.2f} {statistics.median(warm):>22.3f} {per_minute:>12.1f} "
              f"{os.getloadavg()[0]:>5.2f}")


if __name__ == "__main__":
    main()
