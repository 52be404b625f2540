"""Where one pixforge step spends its time: the per-stage split and torch profiler's top operators.

Runs a render of one of ``bench/vs_reference.py``'s cases (same models and settings): warm-up steps,
then steps timed per stage (as ``pixforge render --profile`` does), then steps under the torch profiler
(which slows every operator, so it is kept apart). Prints the stage split and the operators with the
most self time.

    python bench/profile_step.py --case vit-16 --steps 2
    python bench/profile_step.py --case tiny-16 --steps 10 --threads 2 --precision amp_bf16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="tiny-16")
    parser.add_argument("--steps", type=int, default=3, help="steps timed per stage")
    parser.add_argument("--torch-steps", type=int, default=1, help="steps then run under the torch profiler")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--rows", type=int, default=15, help="operators to list")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from torch.profiler import ProfilerActivity, profile

    import pixforge
    from pixforge.components import Observer
    from pixforge.profiling import StageProfiler, format_profile
    from vs_reference import CASES, TINY_VQ, Job, pixforge_preset, random_vq_files

    torch.set_num_threads(args.threads)
    case = CASES[args.case]
    with tempfile.TemporaryDirectory(prefix="pixforge-profile-") as tmp:
        config, checkpoint = TINY_VQ if case.vq == "tiny" else random_vq_files(Path(tmp))
        job = Job("pixforge", case, args.device, args.threads, str(config), str(checkpoint), args.precision,
                  args.compile)
        preset = pixforge_preset(job)
        preset["steps"] = args.warmup + args.steps + args.torch_steps
        stages = StageProfiler(enabled=False)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
        torch_profile = profile(activities=activities)

        class Window(Observer):
            """Times stages over ``--steps`` steps after the warm-up, then runs the torch profiler over more."""

            def __init__(self) -> None:
                super().__init__()
                self.done = 0

            def on_step(self, state) -> None:
                self.done += 1
                if self.done == args.warmup:
                    stages.enabled = True
                    self.start = time.perf_counter()
                elif self.done == args.warmup + args.steps:
                    begin = time.perf_counter()
                    self.seconds = begin - self.start
                    stages.enabled = False
                    torch_profile.__enter__()
                    # starting the torch profiler is not the render's time
                    stages.seconds["observers"] -= time.perf_counter() - begin
                elif self.done == args.warmup + args.steps + args.torch_steps:
                    torch_profile.__exit__(None, None, None)

        window = Window()
        pixforge.Pipeline().render(preset=preset, out=Path(tmp) / "run", observers=[window, stages])
    summary = stages.summary()
    summary["steps"] = args.steps  # it counted every step; its times cover only these
    print(f"case {case.name}: {case.label}, {case.size} px, {case.cutn} cutouts, {args.precision}, "
          f"device {args.device}, torch threads {args.threads}; {args.steps} steps after {args.warmup} warm-up "
          f"({window.seconds / args.steps:.3f} s/step); torch profiler over {args.torch_steps} more step(s):")
    print(format_profile(summary))
    sort = "self_cuda_time_total" if args.device.startswith("cuda") else "self_cpu_time_total"
    print(torch_profile.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=40))


if __name__ == "__main__":
    main()
