"""VQGAN-CLIP's real ``generate.py``, unchanged, against ``bench/reference_loop.py``: is the yardstick faithful?

``bench/vs_reference.py`` measures pixforge against ``reference_loop.py``; this script checks that loop
against the program it models. Both run in one interpreter that has generate.py's own dependencies
(taming-transformers, OpenAI's ``clip`` package, kornia, torch_optimizer, pytorch-lightning 1.9), on the
same model files: the published VQGAN f16-16384 architecture and an OpenAI-layout ViT-B/32, both with seeded
random weights. generate.py runs through ``runpy`` with its own command line; the only thing added is a
global optimiser step hook that records when each step ends, so seconds per step are the gaps between
steps (start-up and the first step are left out). Runs alternate (generate.py, reference, generate.py, …)
so that load from other programs falls on both.

    /path/to/env/bin/python bench/real_generate.py --generate ~/VQGAN-CLIP/generate.py --size 128 --cuts 16
    /path/to/env/bin/python bench/real_generate.py --generate ~/VQGAN-CLIP/generate.py --threads 2 --rounds 3

An environment that runs generate.py here: ``pip install torch==2.14.1 torchvision==0.29.1
taming-transformers-rom1504==0.0.6 pytorch-lightning==1.9.5 "setuptools<81" omegaconf kornia==0.9.0
torch_optimizer clip-anytorch imageio einops requests ftfy regex tqdm open_clip_torch==3.3.0`` (generate.py
imports ``from CLIP import clip``: this script makes that name point at the installed ``clip`` package).
Prints one line per run and a summary; nothing is asserted.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from vs_reference import F16_16384, PROMPT  # noqa: E402  (its top imports only the standard library)


def model_files(folder: Path) -> tuple[Path, Path, Path]:
    """The VQGAN yaml and Lightning-style checkpoint, and the CLIP state dict, written once into ``folder``."""
    config, ckpt, clip_file = folder / "vqgan.yaml", folder / "vqgan.ckpt", folder / "clip-vit-b32.pt"
    if config.is_file() and ckpt.is_file() and clip_file.is_file():
        return config, ckpt, clip_file
    import open_clip
    import torch
    import yaml
    from taming.models.vqgan import VQModel

    folder.mkdir(parents=True, exist_ok=True)
    params = {"embed_dim": 256, "n_embed": 16384, "ddconfig": F16_16384, "lossconfig": {"target": "torch.nn.Identity"}}
    config.write_text(yaml.safe_dump({"model": {"base_learning_rate": 4.5e-06, "target": "taming.models.vqgan.VQModel",
                                                "params": params}}))
    torch.manual_seed(0)
    torch.save({"state_dict": VQModel(**params).state_dict()}, ckpt)
    torch.manual_seed(0)
    torch.save(open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).state_dict(), clip_file)
    return config, ckpt, clip_file


def step_ends() -> list[tuple[float, float]]:
    """A list that every optimiser step, anywhere in the process, appends (wall time, CPU time) to at its end.

    CPU time (``time.process_time``, all threads of the process) is what a step costs whatever else the
    machine runs; wall time is what a user waits on a quiet machine.
    """
    from torch.optim.optimizer import register_optimizer_step_post_hook

    ends: list[tuple[float, float]] = []
    register_optimizer_step_post_hook(lambda *_: ends.append((time.perf_counter(), time.process_time())))
    return ends


def profile_one_step(counts: dict[str, int]) -> None:
    """Profile the ops of the third step (from the end of the second optimiser step to the end of the third)
    into ``counts`` (op name → calls), so the two loops can be compared operation by operation."""
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.profiler import ProfilerActivity, profile

    state = {"steps": 0, "prof": None}

    def hook(*_) -> None:
        state["steps"] += 1
        if state["steps"] == 2:
            state["prof"] = profile(activities=[ProfilerActivity.CPU])
            state["prof"].start()
        elif state["steps"] == 3:
            state["prof"].stop()
            for event in state["prof"].key_averages():
                if event.key.startswith("aten::"):
                    counts[event.key] = event.count

    register_optimizer_step_post_hook(hook)


def run_generate(args: argparse.Namespace, files: tuple[Path, Path, Path]) -> list[float]:
    """generate.py's ``__main__`` with its own arguments; returns the step end times."""
    import runpy

    config, ckpt, clip_file = files
    shim = Path(tempfile.mkdtemp(prefix="generate-shim-"))
    (shim / "CLIP").mkdir()
    (shim / "CLIP" / "__init__.py").write_text("")
    from reference_loop import clip_package_dir

    (shim / "CLIP" / "clip").symlink_to(clip_package_dir())
    sys.path.insert(0, str(shim))
    os.chdir(shim)
    ends = step_ends()
    sys.argv = [args.generate, "-p", PROMPT, "-s", str(args.size), str(args.size), "-cuts", str(args.cuts),
                "-i", str(args.steps - 1), "-se", "50", "-sd", "0", "-cd", "cpu", "-conf", str(config),
                "-ckpt", str(ckpt), "-m", str(clip_file), "-o", str(shim / "output.png")]
    runpy.run_path(args.generate, run_name="__main__")
    return ends


def run_reference(args: argparse.Namespace, files: tuple[Path, Path, Path]) -> list[float]:
    """``reference_loop.ReferenceLoop`` on the same files, built as generate.py builds its models."""
    import open_clip
    import torch
    from omegaconf import OmegaConf
    from taming.models import vqgan

    from reference_loop import OPENAI_MEAN, OPENAI_STD, ReferenceLoop, openai_clip

    config, ckpt, clip_file = files
    conf = OmegaConf.load(config)
    vq = vqgan.VQModel(**conf.model.params)
    vq.init_from_ckpt(str(ckpt))
    del vq.loss
    clip = openai_clip(torch.load(clip_file, map_location="cpu"))
    tokenizer = open_clip.get_tokenizer("ViT-B-32-quickgelu")
    torch.manual_seed(0)
    loop = ReferenceLoop(vq, clip, tokenizer, OPENAI_MEAN, OPENAI_STD, clip.visual.input_resolution, args.size, args.size,
                         args.cuts, PROMPT)
    ends = step_ends()
    for _ in range(args.steps):
        loop.step()
    return ends


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    files = model_files(Path(args.cache))
    counts: dict[str, int] = {}
    if args.ops:
        profile_one_step(counts)
    ends = run_generate(args, files) if args.child == "generate" else run_reference(args, files)
    wall = [b[0] - a[0] for a, b in zip(ends, ends[1:])]
    cpu = [b[1] - a[1] for a, b in zip(ends, ends[1:])]
    if args.ops:  # the profiled step is slower: leave it out of the timings
        del wall[1], cpu[1]
    Path(args.result).write_text(json.dumps({"wall": wall, "cpu": cpu, "ops": counts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generate", required=True, help="path to VQGAN-CLIP's generate.py")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cuts", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8, help="steps per run (the first is not timed)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir(), "pixforge-real-generate")))
    parser.add_argument("--ops", action="store_true", help="also list the aten ops whose call counts differ in one step")
    parser.add_argument("--child", choices=["generate", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.generate = str(Path(args.generate).expanduser().resolve())
    if args.child:
        return child(args)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    print(f"{args.size} px, {args.cuts} cutouts, {args.steps} steps a run, {args.threads} torch thread(s), "
          f"load average {os.getloadavg()[0]:.2f} at start")
    gaps: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in ("generate", "reference")}
    ops: dict[str, dict[str, int]] = {}
    for round_ in range(args.rounds):
        for name in ("generate", "reference") if round_ % 2 == 0 else ("reference", "generate"):
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as result:
                pass
            command = [sys.executable, __file__, *sys.argv[1:], "--child", name, "--result", result.name]
            done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode:
                sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
            run = json.loads(Path(result.name).read_text())
            for key in ("wall", "cpu"):
                gaps[name][key] += run[key]
            ops[name] = run["ops"]
            print(f"round {round_ + 1} {name:9s} wall {statistics.median(run['wall']):.3f} s/step, CPU "
                  f"{statistics.median(run['cpu']):.3f} s/step (medians of {len(run['wall'])}), load {os.getloadavg()[0]:.2f}")
    if args.ops:
        differ = sorted(k for k in set(ops["generate"]) | set(ops["reference"])
                        if ops["generate"].get(k, 0) != ops["reference"].get(k, 0))
        print(f"aten ops in one step: generate.py {sum(ops['generate'].values())} calls, reference "
              f"{sum(ops['reference'].values())}; {len(differ)} ops differ in count" + (":" if differ else ""))
        for key in differ:
            print(f"  {key}: generate.py {ops['generate'].get(key, 0)}, reference {ops['reference'].get(key, 0)}")
    for key in ("wall", "cpu"):
        real, ours = statistics.median(gaps["generate"][key]), statistics.median(gaps["reference"][key])
        print(f"{key:4s}: generate.py {real:.3f} s/step, reference_loop.py {ours:.3f} s/step: the reference takes "
              f"{ours / real:.3f}× generate.py's time")


if __name__ == "__main__":
    main()
