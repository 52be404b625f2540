"""Start-up: how long ``pixforge --help`` and ``pixforge render --help`` take, and the default preset's time
to its first step, each in a fresh process, measured from the moment the process is started.

Warm: one untimed run of each first (files in the page cache), then the median of ``--repeat`` runs. The
first step's time is split into stages read in the render's own process: Python and imports, the
registry (plugins, which imports torch), building the components (models loaded), and the first step.
Threads are set through OMP_NUM_THREADS, so torch is not imported before pixforge imports it.
The floor is what a bare process pays for torch's import and its first optimiser (which imports
torch._dynamo), so what pixforge adds on top can be read off.
Usage: python bench/startup.py [--repeat 5] [--threads 1] [--preset default]
Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

#: the render's process: a real ``pixforge render`` (pixforge.cli.main), with a plugin whose on_step hook
#: stamps the first step; times are since the parent started the process (``time.time()`` passed in)
RENDER = r"""
import json, resource, sys, time
started = float(sys.argv[1])
marks = {{"python": time.time() - started}}
import pixforge.plugins as plugins
from pixforge.hookspecs import hookimpl
real_build, real_make = plugins.build_registry, plugins.make_manager
class Stamp:
    @hookimpl
    def on_step(self, state):
        if "first step" not in marks:
            marks["first step"] = time.time() - started
            marks["first step, CPU"] = time.process_time()
def make_manager(extra=(), load_entry_points=True):
    marks.setdefault("cli imported", time.time() - started)
    return real_make([*extra, Stamp()], load_entry_points)
def build_registry(manager):
    registry = real_build(manager)
    marks["registry"] = time.time() - started
    from pixforge.pipeline import Pipeline
    real_components = Pipeline.build
    def build(self, *args, **kwargs):
        built = real_components(self, *args, **kwargs)
        marks.setdefault("components built", time.time() - started)  # the first build: the layout's
        return built
    Pipeline.build = build
    real_search = Pipeline.search_start
    def search_start(self, *args, **kwargs):
        real_search(self, *args, **kwargs)
        marks.setdefault("start searched", time.time() - started)  # the generator's start search (layout)
    Pipeline.search_start = search_start
    return registry
plugins.make_manager, plugins.build_registry = make_manager, build_registry
from pixforge.cli import main
try:
    main(["render", "a red circle on a blue background", "--preset", {preset!r}, "--steps", "2", "--seed", "0",
          "-q", "--out", {out!r}])
except SystemExit as exc:
    if exc.code:
        raise
marks["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("MARKS", json.dumps(marks))
"""


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *args], capture_output=True, text=True, env=env, check=True
    )
    wall = time.perf_counter() - start
    return wall, int(done.stderr.strip().splitlines()[-1]) / 1024


def first_step(preset: str, threads: int, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        code = RENDER.format(preset=preset, out=os.path.join(tmp, "run"))
        done = subprocess.run(
            [sys.executable, "-c", code, repr(time.time())], capture_output=True, text=True, env=env
        )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return marks_of(done.stdout)


def marks_of(stdout: str) -> dict:
    """The marks a timed child process printed on its last ``MARKS {json}`` line."""
    line = [ln for ln in stdout.splitlines() if ln.startswith("MARKS ")][-1]
    return json.loads(line[len("MARKS "):])

#: the floor any torch render pays before its first step: torch's import, then the first optimiser, whose
#: constructor imports torch._dynamo (torch.optim wraps its methods in torch._disable_dynamo, which imports
#: dynamo on first call); printed so the time pixforge itself adds can be read off
FLOOR = r"""
import json, sys, time
started = float(sys.argv[1])
import torch
marks = {"torch imported": time.time() - started}
torch.optim.Adam([torch.zeros(1, requires_grad=True)])
marks["an optimiser built"] = time.time() - started
print("MARKS", json.dumps(marks))
"""


def floor(env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", FLOOR, repr(time.time())], capture_output=True, text=True,
                          env=env, check=True)
    return marks_of(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--preset", default="default")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    script = [sys.executable, "-m", "pixforge.cli"]
    print(f"pixforge start-up, {args.repeat} warm runs each (median), {args.threads} torch thread(s), "
          f"load average {os.getloadavg()[0]:.1f} before")
    print(f"{'what':<34} {'seconds':>8} {'peak MB':>8}")
    for label, extra in (("pixforge --help", ["--help"]), ("pixforge render --help", ["render", "--help"])):
        timed(script + extra, env)
        runs = [timed(script + extra, env) for _ in range(args.repeat)]
        print(f"{label:<34} {statistics.median(r[0] for r in runs):>8.2f} {statistics.median(r[1] for r in runs):>8.0f}")
    first_step(args.preset, args.threads, env)
    runs = [first_step(args.preset, args.threads, env) for _ in range(args.repeat)]
    for stage in ("python", "cli imported", "registry", "components built", "start searched", "first step"):
        if not all(stage in r for r in runs):
            continue  # a preset without a start search
        label = f"{args.preset}: {stage}" if stage != "first step" else f"{args.preset}: time to first step"
        print(f"{label:<34} {statistics.median(r[stage] for r in runs):>8.2f}")
    print(f"{args.preset + ': peak':<34} {'':>8} {statistics.median(r['peak_mb'] for r in runs):>8.0f}")
    cpu = statistics.median(r["first step, CPU"] for r in runs)
    print(f"{args.preset + ': CPU s to first step':<34} {cpu:>8.2f}   (user + system of the render's process)")
    floor(env)
    floors = [floor(env) for _ in range(args.repeat)]
    for stage in ("torch imported", "an optimiser built"):
        print(f"{'floor: ' + stage:<34} {statistics.median(r[stage] for r in floors):>8.2f}   "
              "(a bare python -c: import torch, then torch.optim.Adam, which imports torch._dynamo)")


if __name__ == "__main__":
    main()
