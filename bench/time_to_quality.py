"""Time to quality: how long the reference loop and pixforge each take to draw the prompt, judged without a model.

The reference is ``bench/reference_loop.py`` (VQGAN-CLIP's generate.py, step by step) with the peer's
defaults — 32 ``latest`` cutouts, ``Af Pe Ji Er``, Adam at 0.1, random codes, 500 iterations — on the
embedded models (the shipped tiny VQGAN and the robust tiny CLIP) at the canvas the default preset uses.
pixforge runs a preset (the default, or ``--preset``) on the same prompts and seeds. Every ``--every``
steps both loops' current picture is judged by ``pixforge_zoo.shape_judge.shape_check`` (the named shape,
one region of the named colour, on the named background); the judging is not timed. The reference's clock is
the sum of its step times; pixforge's runs from the render call to its last step (wall, and CPU as a
load-independent check), so a layout's start search, its steps and ranking and the VQGAN's encoding count,
after one untimed warm-up render per preset has loaded the models. Both are averaged over the renders.

Prints the pass-rate curves, the reference's final pass rate R and its time T, the time pixforge needs to
reach R and the pass rate pixforge has at T (at its end, if it ends sooner). Target (issue #18): pixforge
reaches R in at most T / 2, on 1 and on 2 threads. Nothing is asserted.

    python bench/time_to_quality.py                          # 12 held-out prompts, seed 0, 1 thread
    python bench/time_to_quality.py --threads 2 --limit 60 --seeds 0,1
    python bench/time_to_quality.py --preset default,pixels --threads 2   # one reference run, two presets
    python bench/time_to_quality.py --limit 6 --clip pixforge-tiny-clip-mined   # both loops on the mined CLIP
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from vs_reference import TINY_VQ, reference_vq  # noqa: E402


@dataclass
class Curve:
    """One render's judged snapshots: (step, wall seconds, CPU seconds, passed)."""

    points: list[tuple[int, float, float, bool]] = field(default_factory=list)


class Clock:
    """Sums step time and leaves out the judging done between steps."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._wall = self._cpu = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def judge(image: torch.Tensor, prompt) -> bool:
    from pixforge_zoo.shape_judge import shape_check

    return shape_check(image.detach().float().clamp(0, 1), prompt.shape, prompt.colour, prompt.background).passed


#: the tiny CLIPs both loops can share (``--clip``)
CLIPS = ("pixforge-tiny-clip-robust", "pixforge-tiny-clip-mined")


def reference_models(clip_name: str = CLIPS[0]):
    from pixforge_zoo import load_shipped_mined_clip, load_shipped_robust_clip

    loader = load_shipped_mined_clip if clip_name == CLIPS[1] else load_shipped_robust_clip
    clip, tokenizer, mean, std, size = loader("cpu")
    return reference_vq(*TINY_VQ), clip, tokenizer, mean, std, int(size)


def run_reference(prompt, seed: int, args: argparse.Namespace, models) -> Curve:
    from reference_loop import ReferenceLoop

    vq, clip, tokenizer, mean, std, cut_size = models
    torch.manual_seed(seed)
    loop = ReferenceLoop(vq, clip, tokenizer, mean, std, cut_size, args.size, args.size, args.ref_cuts, prompt.text,
                         display_freq=0, progress=False)
    clock, curve = Clock(), Curve()
    for step in range(1, args.ref_steps + 1):
        clock.start()
        loop.step()
        clock.stop()
        if step % args.every == 0 or step == args.ref_steps:
            with torch.no_grad():
                curve.points.append((step, clock.wall, clock.cpu, judge(loop.synth(), prompt)))
    return curve


def run_pixforge(prompt, seed: int, args: argparse.Namespace, pipe, out: Path, preset: str) -> Curve:
    from pixforge.components import Observer
    from pixforge.run_folder import is_layout_candidate

    clock, curve = Clock(), Curve()

    class Snapshots(Observer):
        """Judges every ``--every`` steps with the clock stopped; between, it runs (work outside the steps too).

        A preset's layout (pixforge.layout) is clocked and not judged: its samples are not yet the picture
        the render gives; the render's own steps are numbered after the layout's."""

        layout = False
        offset = 0

        def on_start(self, run) -> None:
            self.layout = is_layout_candidate(run.run_dir)

        def on_step(self, state) -> None:
            step = state.step + 1
            if self.layout:
                self.offset = step
            elif step % args.every == 0 or step == state.total_steps:
                clock.stop()
                curve.points.append((self.offset + step, clock.wall, clock.cpu, judge(state.image[:1], prompt)))
                clock.start()

    clock.start()
    pipe.render(prompt.text, preset, overrides=pixforge_overrides(args), seed=seed, out=out, observers=[Snapshots()])
    return curve


def pixforge_overrides(args: argparse.Namespace) -> list[str]:
    return [f"size={args.size}x{args.size}", *args.set]


def summarise(curves: list[Curve]) -> list[tuple[int, float, float, float]]:
    """Per snapshot index: (step, mean wall s, mean CPU s, pass rate), over renders of equal length."""
    rows = []
    for i in range(min(len(c.points) for c in curves)):
        points = [c.points[i] for c in curves]
        rows.append((points[0][0], statistics.mean(p[1] for p in points), statistics.mean(p[2] for p in points),
                     sum(p[3] for p in points) / len(points)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", choices=["held_out", "tuning"], default="held_out")
    parser.add_argument("--limit", type=int, default=12, help="prompts, spread over the shapes (default 12)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, default=128, help="canvas side for both loops (the default preset's)")
    parser.add_argument("--ref-steps", type=int, default=500, help="generate.py's default iterations")
    parser.add_argument("--ref-cuts", type=int, default=32, help="generate.py's default cutouts")
    parser.add_argument("--preset", default="default", help="pixforge preset; comma-separated for several "
                        "against one reference run (default,pixels)")
    parser.add_argument("--set", action="append", default=[], help="pixforge overrides, as --set")
    parser.add_argument("--every", type=int, default=10, help="judge every N steps")
    parser.add_argument("--clip", choices=CLIPS, default=CLIPS[0], help="the tiny CLIP both loops use")
    args = parser.parse_args()
    args.set = [*args.set, f"perceptors.0.settings.model={args.clip}"]
    torch.set_num_threads(args.threads)

    from pixforge import Pipeline
    from pixforge_zoo import prompt_sets

    prompts = prompt_sets.held_out_prompts() if args.prompts == "held_out" else prompt_sets.tuning_prompts()
    by_shape: dict[str, list] = {}
    for p in prompts:
        by_shape.setdefault(p.shape, []).append(p)
    picked = [group[i] for i in range(max(len(g) for g in by_shape.values())) for group in by_shape.values()
              if i < len(group)][: args.limit]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{len(picked)} prompts × {len(seeds)} seed(s), {args.size} px, torch threads {args.threads}, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    models, pipe = reference_models(args.clip), Pipeline()
    import tempfile

    presets = args.preset.split(",")
    ref_curves: list[Curve] = []
    pix_curves: dict[str, list[Curve]] = {preset: [] for preset in presets}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:  # untimed: loads the preset's models into the Pipeline's cache
            pipe.render(picked[0].text, preset, overrides=[*pixforge_overrides(args), "steps=1"], seed=0,
                        out=Path(tmp, f"warm-up-{preset}"))
        for n, (prompt, seed) in enumerate((p, s) for p in picked for s in seeds):
            ref = run_reference(prompt, seed, args, models)
            ref_curves.append(ref)
            line = f"  {prompt.text!r} seed {seed}: reference {'pass' if ref.points[-1][3] else 'fail'} in {ref.points[-1][1]:.1f} s"
            for preset in presets:
                pix = run_pixforge(prompt, seed, args, pipe, Path(tmp, f"{preset}-{n}"), preset)
                pix_curves[preset].append(pix)
                line += f", {preset} {'pass' if pix.points[-1][3] else 'fail'} in {pix.points[-1][1]:.1f} s"
            print(line, flush=True)
    ref_rows = summarise(ref_curves)
    pix_rows = {preset: summarise(curves) for preset, curves in pix_curves.items()}
    print_curve("reference (generate.py defaults)", ref_rows)
    for preset, rows in pix_rows.items():
        print_curve(f"pixforge ({preset})", rows)
    for preset, rows in pix_rows.items():
        compare(preset, ref_rows, rows)


def print_curve(label: str, rows: list[tuple[int, float, float, float]]) -> None:
    print(f"\n{label}\n| step | wall s | CPU s | pass rate |\n|---|---|---|---|")
    for step, wall, cpu, rate in rows:
        print(f"| {step} | {wall:.2f} | {cpu:.2f} | {rate:.1%} |")


def compare(preset: str, ref_rows: list[tuple[int, float, float, float]],
            pix_rows: list[tuple[int, float, float, float]]) -> None:
    """The reference's final pass rate and time against one preset's curve, by wall and by CPU clock."""
    final_rate = ref_rows[-1][3]
    print(f"\nreference: pass rate {final_rate:.1%} after {ref_rows[-1][1]:.1f} s wall, {ref_rows[-1][2]:.1f} s CPU "
          f"(mean per render); pixforge ({preset}) ends at {pix_rows[-1][3]:.1%} after {pix_rows[-1][1]:.1f} s wall, "
          f"{pix_rows[-1][2]:.1f} s CPU")
    for clock, column in (("wall", 1), ("CPU", 2)):
        final_time = ref_rows[-1][column]
        at_t = max((row[3] for row in pix_rows if row[column] <= final_time), default=0.0)
        reach = next((row[column] for row in pix_rows if row[3] >= final_rate), None)
        line = f"{clock}: {preset}'s pass rate within the reference's time: {at_t:.1%}; "
        if final_rate == 0:
            line += "the reference passes none, so time to its pass rate says nothing"
        elif reach is None:
            line += f"{preset} never reaches the reference's pass rate: target (≤ 0.50 × its time) missed"
        else:
            line += (f"{preset} reaches {final_rate:.1%} after {reach:.1f} s = {reach / final_time:.2f} × the "
                     f"reference's time (target ≤ 0.50: {'met' if reach <= final_time / 2 else 'missed'})")
        print(line)


if __name__ == "__main__":
    main()
