"""Renders per minute of a sweep of 16 tiny renders: sequentially, with 2 worker processes, and on local Ray.

Each mode runs ``pixforge sweep`` in a fresh process into a fresh folder, so the figures include what a user
waits for: imports, model loading in every worker, Ray's start-up. Also prints whether the three modes made
the same bytes. Nothing is asserted.
Usage: python bench/sweep_speed.py [--renders 16] [--steps 10] [--size 32] [--modes seq,seq1,workers,ray]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: mode → (command-line flags, extra environment); seq1 is the sequential run on one torch thread
MODES = {
    "seq": ([], {}),
    "seq1": ([], {"OMP_NUM_THREADS": "1"}),
    "workers": (["--workers", "2"], {}),
    "ray": (["--ray", "local"], {}),
}


def write_spec(folder: Path, renders: int, steps: int, size: int) -> Path:
    spec = folder / "bench.yaml"
    prompts = ["a red circle", "a blue square", "a green triangle", "a yellow star"]
    seeds = list(range(max(1, renders // len(prompts))))
    spec.write_text(json.dumps({
        "preset": "default",
        "base": {"steps": steps, "size": size, "cutouts.count": 4, "checkpoint_every": 0},
        "grid": {"prompt": prompts, "seed": seeds},
    }))
    return spec


def run_mode(spec: Path, out: Path, extra: list[str], env: dict[str, str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pixforge.cli", "sweep", str(spec), "--out", str(out), "-q", *extra],
                          capture_output=True, text=True, env={**os.environ, **env})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"sweep {' '.join(extra) or 'sequential'} failed:\n{done.stderr[-2000:]}")
    jobs = json.loads((out / "summary.json").read_text())["jobs"]
    digest = hashlib.sha256(b"".join(Path(j["final"]).read_bytes() for j in jobs)).hexdigest()[:12]
    return {"wall": wall, "renders": len(jobs), "busy": sum(j["seconds"] for j in jobs), "digest": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--modes", default="seq,seq1,workers,ray")
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{args.renders} renders: default preset, {args.size}px, {args.steps} steps, 4 cutouts; device {device}; "
          f"{os.cpu_count()} CPU cores; torch threads {torch.get_num_threads()} (seq), 1 (seq1), "
          f"cores/2 per worker (workers: --workers 2), 1 per Ray actor (ray: --ray local); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'mode':<10} {'wall s':>8} {'renders/min':>12} {'render s (sum)':>15} {'bytes':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp), args.renders, args.steps, args.size)
        for mode in args.modes.split(","):
            row = run_mode(spec, Path(tmp) / mode, *MODES[mode])
            rate = 60 * row["renders"] / row["wall"]
            print(f"{mode:<10} {row['wall']:>8.1f} {rate:>12.1f} {row['busy']:>15.1f} {row['digest']:>14}")


if __name__ == "__main__":
    main()
