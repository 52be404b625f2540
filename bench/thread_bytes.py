"""Same seed, same bytes on any thread count: the README command's render (the full default preset) run by
``pixforge render`` in fresh processes on 1, 2 and 4 torch threads (OMP_NUM_THREADS), the final.png
hashed and compared, with each run's wall and CPU time.

Usage: python bench/thread_bytes.py [--threads 1 2 4] [--seeds 1 2] [--prompt "a red circle on a blue background"]
Prints a table and whether every thread count gave the same file per seed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def render(prompt: str, seed: int, threads: int, out: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the child's) and the SHA-256 of final.png of one CLI render."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pixforge.cli", "render", prompt, "--seed", str(seed), "-q",
                    "--out", str(out)], env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, hashlib.sha256((out / "final.png").read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--prompt", default="a red circle on a blue background")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load before: {os.getloadavg()[0]:.2f}")
    print(f"{'seed':>4} {'threads':>7} {'wall s':>7} {'CPU s':>7}  final.png sha256")
    same_everywhere = True
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            digests = set()
            for threads in args.threads:
                wall, cpu, digest = render(args.prompt, seed, threads, Path(tmp) / f"s{seed}-t{threads}")
                digests.add(digest)
                print(f"{seed:>4} {threads:>7} {wall:>7.1f} {cpu:>7.1f}  {digest[:16]}")
            same_everywhere &= len(digests) == 1
            print(f"seed {seed}: {'the same bytes' if len(digests) == 1 else 'DIFFERENT bytes'} on "
                  f"{', '.join(map(str, args.threads))} threads")
    print("all seeds the same bytes on every thread count:", same_everywhere)


if __name__ == "__main__":
    main()
