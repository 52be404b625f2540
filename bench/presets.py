"""Every shipped preset, rendered once: its canvas, steps, seconds and what it leaves on disk.

Each render is a real ``pixforge render`` in its own process with one torch thread (OMP_NUM_THREADS=1), so
the figures are what a laptop core gives. Wall seconds include start-up; CPU seconds (user + system of the
process) are also printed, as they move less when other programs share the machine.
Usage: python bench/presets.py [--prompt TEXT] [--preset NAME ...] [--markdown]
Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def shipped() -> list[str]:
    return sorted(p.stem for p in (ROOT / "presets").glob("*.yaml"))


def render(preset: str, prompt: str, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        args = [sys.executable, "-m", "pixforge.cli", "render", prompt, "--preset", preset, "--seed", "0", "-q"]
        if preset == "regions":
            args += ["--region", "left=a red circle", "--region", "right=a blue square"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([*args, "--out", str(run)], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            return {"preset": preset, "error": done.stderr.strip().splitlines()[-1]}
        final = run / "final.png"
        with Image.open(final) as image:
            size = image.size
        steps = next(
            (line.split(":")[1].strip() for line in (run / "settings.yaml").read_text().splitlines()
             if line.startswith("steps:")),
            "?",
        )
        files = [p for p in run.rglob("*") if p.is_file()]
        return {
            "preset": preset,
            "canvas": f"{size[0]}x{size[1]}",
            "steps": steps,
            "wall": wall,
            "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "final_kb": final.stat().st_size / 1024,
            "folder_kb": sum(p.stat().st_size for p in files) / 1024,
            "files": len(files),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="a red circle on a blue background")
    parser.add_argument("--preset", nargs="*", default=None)
    parser.add_argument("--markdown", action="store_true", help="print a README table")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = [render(name, args.prompt, env) for name in (args.preset or shipped())]
    print(f"'{args.prompt}', seed 0, 1 torch thread, load average {os.getloadavg()[0]:.1f} after")
    if args.markdown:
        print("| preset | canvas | steps | s / render (wall) | CPU s | final.png KB | run folder KB (files) |")
        print("|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"{row['preset']:<10} failed: {row['error']}")
        elif args.markdown:
            print(f"| `{row['preset']}` | {row['canvas']} | {row['steps']} | {row['wall']:.1f} | {row['cpu']:.1f} | "
                  f"{row['final_kb']:.0f} | {row['folder_kb']:.0f} ({row['files']}) |")
        else:
            print(f"{row['preset']:<10} {row['canvas']:>8} {row['steps']:>5} steps {row['wall']:6.1f} s wall "
                  f"{row['cpu']:6.1f} s CPU  final.png {row['final_kb']:5.0f} KB  folder {row['folder_kb']:6.0f} KB "
                  f"({row['files']} files)")


if __name__ == "__main__":
    main()
