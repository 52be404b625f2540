"""pixforge against a VQGAN-CLIP-style reference loop: steps/second and peak memory, side by side.

Both loops run the same models (same weights), canvas, cutout count, prompt and torch thread count. Each
loop runs in its own process (so its peak memory is its own); after building and a few warm-up steps the
processes take turns, a few steps at a time, with the order swapped every round, so that load from other
programs on the machine falls on both alike. The reference is ``bench/reference_loop.py`` (written the way
generate.py writes it); the pixforge side is a real render through ``pixforge.Pipeline``.

Cases: ``tiny-16``/``tiny-32`` (the shipped tiny VQGAN + tiny CLIP, 64 px), ``vit-16``/``vit-32`` (the
published VQGAN f16-16384 architecture + open_clip ViT-B-32, random weights, 256 px), and ``vit512-32``
(512 px, for a GPU: see ``bench/gpu_check.py``). Prints the settings, then a markdown table. Nothing is
asserted. ``bench/profile_step.py`` shows where one pixforge step of a case spends its time.

    python bench/vs_reference.py                               # CPU, 1 thread, the four default cases
    python bench/vs_reference.py --threads 2 --cases vit-16 --rounds 4 --chunk 3
    python bench/vs_reference.py --precisions fp32,amp_bf16      # one pixforge row per precision
    python bench/vs_reference.py --device cuda --cases vit-32,vit512-32 --precisions fp32,amp_bf16 --compile
    python bench/vs_reference.py --cases tiny-16 --baseline /tmp/old-pixforge   # a source tree: before/after
    python bench/vs_reference.py --cases vit-16 --variant "contiguous:generator.settings.channels_last=false"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROMPT = "a red circle on a blue background"
TINY_VQ = (ROOT / "plugins/pixforge_vqgan/configs/tiny-vqgan.yaml", ROOT / "plugins/pixforge_vqgan/weights/tiny-vqgan.safetensors")

#: the published VQGAN imagenet f16-16384 architecture (its model.yaml), for random weights
F16_16384 = {
    "double_z": False, "z_channels": 256, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
    "ch_mult": [1, 1, 2, 2, 4], "num_res_blocks": 2, "attn_resolutions": [16], "dropout": 0.0,
}


@dataclass
class Case:
    name: str
    size: int
    cutn: int
    vq: str  # "tiny" or "f16-16384"
    clip: str  # open_clip model name or a shipped name
    label: str
    warmup: int
    rounds: int
    chunk: int


#: OpenAI's ViT-B/32 uses QuickGELU; open_clip's "ViT-B-32" config uses exact GELU, so both loops use this one
VIT = "ViT-B-32-quickgelu"
CASES = {
    "tiny-16": Case("tiny-16", 64, 16, "tiny", "pixforge-tiny-clip", "tiny VQGAN f8 + tiny CLIP (RN, 64 px)", 10, 4, 20),
    "tiny-32": Case("tiny-32", 64, 32, "tiny", "pixforge-tiny-clip", "tiny VQGAN f8 + tiny CLIP (RN, 64 px)", 10, 4, 20),
    "vit128-16": Case("vit128-16", 128, 16, "f16-16384", VIT, "VQGAN f16-16384 + ViT-B/32 (random weights)", 2, 4, 3),
    "vit-16": Case("vit-16", 256, 16, "f16-16384", VIT, "VQGAN f16-16384 + ViT-B/32 (random weights)", 2, 3, 2),
    "vit-32": Case("vit-32", 256, 32, "f16-16384", VIT, "VQGAN f16-16384 + ViT-B/32 (random weights)", 2, 3, 2),
    "vit512-32": Case("vit512-32", 512, 32, "f16-16384", VIT, "VQGAN f16-16384 + ViT-B/32 (random weights)", 3, 3, 5),
}


@dataclass
class Job:
    """What one worker process runs."""

    loop: str  # "reference" or "pixforge"
    case: Case
    device: str
    threads: int
    vq_config: str
    vq_checkpoint: str
    precision: str = "fp32"
    compile: bool = False
    seed: int = 0
    #: colour jitter method of the pixforge rows (None: the tree's default, for a baseline that has no such key)
    jitter: str | None = None
    #: a pixforge source tree to run instead of the installed one (an older commit, for a before/after)
    root: str | None = None
    #: a named variant of the pixforge row: ``--set``-style overrides (an ablation)
    variant: str | None = None
    overrides: tuple[str, ...] = ()

    @property
    def steps(self) -> int:
        return self.case.warmup + self.case.rounds * self.case.chunk

    @property
    def title(self) -> str:
        if self.loop == "reference":
            return "reference (generate.py style)"
        return ("pixforge" + (" (compiled)" if self.compile else "") + (f" ({self.root_label})" if self.root else "")
                + (f" [{self.variant}]" if self.variant else ""))

    @property
    def root_label(self) -> str:
        commit = Path(self.root or "", ".commit")
        return f"at {commit.read_text().strip()}" if commit.is_file() else f"from {self.root}"


# -- models ------------------------------------------------------------------------------------------


def random_vq_files(folder: Path) -> tuple[Path, Path]:
    """A published-layout yaml for f16-16384 and random weights for it (seed 0), written once into ``folder``."""
    config, weights = folder / "vqgan_f16_16384.yaml", folder / "vqgan_f16_16384_random.safetensors"
    if config.is_file() and weights.is_file():
        return config, weights
    import torch
    import yaml
    from safetensors.torch import save_file

    sys.path.insert(0, str(ROOT / "plugins"))
    from pixforge_vqgan.model import VQAutoencoder
    from pixforge_vqgan.spec import VQSpec, spec_to_config

    spec = VQSpec(kind="vq", ddconfig=dict(F16_16384), n_embed=16384, embed_dim=256)
    torch.manual_seed(0)
    model = VQAutoencoder(spec)
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(spec_to_config(spec)))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return config, weights


def reference_vq(config: str | Path, checkpoint: str | Path):
    """A VQGAN from a published-layout yaml and its weights, built without shifting the random stream.

    pixforge's VQAutoencoder holds taming's Encoder, Decoder and VectorQuantizer2, nothing more.
    """
    import torch
    from safetensors.torch import load_file

    sys.path.insert(0, str(ROOT / "plugins"))
    from pixforge_vqgan.model import VQAutoencoder
    from pixforge_vqgan.spec import parse_spec, read_config

    with torch.random.fork_rng(devices=[]):
        vq = VQAutoencoder(parse_spec(read_config(str(config))))
    vq.load_state_dict(load_file(str(checkpoint)), strict=False)
    return vq


def reference_models(job: Job):
    """The reference's models, built from the same files and seeds as pixforge's, without pixforge's code paths."""
    import torch

    vq = reference_vq(job.vq_config, job.vq_checkpoint)
    if job.case.clip == "pixforge-tiny-clip":
        from pixforge_zoo import load_shipped_tiny_clip

        clip, tokenizer, mean, std, size = load_shipped_tiny_clip("cpu")
    else:
        import open_clip
        from reference_loop import OPENAI_MEAN, OPENAI_STD, openai_clip

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # as pixforge_clip's loader: the same random weights
            weights = open_clip.create_model(job.case.clip, pretrained=None).state_dict()
        # generate.py's clip.load: OpenAI's module code, float16 on a GPU, float32 on a CPU
        clip = openai_clip(weights, fp16=job.device.startswith("cuda"))
        tokenizer = open_clip.get_tokenizer(job.case.clip)  # OpenAI's BPE and context length, as clip.tokenize
        mean, std = OPENAI_MEAN, OPENAI_STD
        size = clip.visual.input_resolution
    return vq, clip, tokenizer, mean, std, int(size)


def pixforge_preset(job: Job) -> dict:
    """The reference's settings, said in pixforge's preset language."""
    case = job.case
    return {
        "prompt": PROMPT,
        "size": [case.size, case.size],
        "steps": job.steps,
        "seed": job.seed,
        "device": job.device,
        "save_every": 0,
        "checkpoint_every": 0,
        # margin 0: decode exactly the canvas, as the reference does (pixforge's default decodes a border too)
        "generator": {"name": "vqgan", "settings": {"config": job.vq_config, "checkpoint": job.vq_checkpoint,
                                                    "init": "random_codes", "margin": 0,
                                                    # an autocast precision runs the decoder under it too
                                                    **({"precision": job.precision} if job.precision.startswith("amp_") else {})}},
        "perceptors": [{"name": "clip", "weight": 1.0, "settings": {"model": case.clip, "precision": job.precision}}],
        "losses": [{"name": "clip_prompt", "weight": 1.0}],
        # generate.py's Af Pe Ji Er, then its noise (U(0, 0.1) * N there; N(0, 0.05) here: the same work)
        "augmentations": [
            {"name": "affine", "settings": {"degrees": 15, "translate": 0.1, "shear": 5, "padding_mode": "zeros", "p": 0.7}},
            {"name": "perspective", "settings": {"distortion_scale": 0.7, "p": 0.7}},
            {"name": "color_jitter", "settings": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1, "p": 0.7,
                                                  **({"method": job.jitter} if job.jitter else {})}},
            {"name": "erasing", "settings": {"p": 0.7}},
            {"name": "gaussian_noise", "settings": {"std": 0.05, "p": 1.0}},
        ],
        "cutouts": {"count": case.cutn, "mode": "pooled"},
        "optimizer": {"name": "adam", "lr": 0.1, "drops": []},
        "observers": [],
        **({"compile": True} if job.compile else {}),
    }


# -- the worker side -----------------------------------------------------------------------------------


class Turns:
    """Runs steps when told: after the warm-up it says 'ready', then for each 'run K' runs K steps and says how long."""

    def __init__(self, job: Job) -> None:
        self.job, self.done, self.target, self.t0 = job, 0, job.case.warmup, 0.0

    def after_step(self) -> None:
        self.done += 1
        if self.done < self.target:
            return
        if self.job.device.startswith("cuda"):  # a GPU runs ahead of Python: count only finished work
            import torch

            torch.cuda.synchronize()
        if self.done == self.job.case.warmup:
            reply({"ready": True})
        else:
            reply({"seconds": time.perf_counter() - self.t0, "steps": self.done - self.start})
        if self.done < self.job.steps:
            command = sys.stdin.readline().split()
            self.start, self.target = self.done, self.done + int(command[1])
            self.t0 = time.perf_counter()


def reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def peak_memory(device: str, precision: str) -> dict:
    import resource

    import torch

    out = {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "precision": precision}
    if device.startswith("cuda"):
        out["cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_worker(job: Job) -> None:
    import torch

    torch.set_num_threads(job.threads)
    turns = Turns(job)
    precision = job.precision
    if job.precision.startswith("amp_"):
        precision += " (CLIP + VQGAN)"
    elif job.precision != "fp32":
        precision += " CLIP"
    if job.loop == "reference":
        from reference_loop import ReferenceLoop

        vq, clip, tokenizer, mean, std, size = reference_models(job)
        torch.manual_seed(job.seed)
        loop = ReferenceLoop(vq, clip, tokenizer, mean, std, size, job.case.size, job.case.size, job.case.cutn,
                             PROMPT, device=job.device)
        precision = f"{str(loop.clip_dtype).replace('torch.float', 'fp')} CLIP, fp32 VQGAN"
        for _ in range(job.steps):
            loop.step()
            turns.after_step()
    else:
        import pixforge
        from pixforge.components import Observer

        class Relay(Observer):
            def on_step(self, state) -> None:
                turns.after_step()

        pipe = pixforge.Pipeline()
        with tempfile.TemporaryDirectory() as out:
            pipe.render(preset=pixforge_preset(job), out=out, observers=[Relay()], overrides=list(job.overrides))
    if job.device.startswith("cuda"):
        torch.cuda.synchronize()
    sys.stdin.readline()  # "end"
    reply(peak_memory(job.device, precision))


# -- the parent side ---------------------------------------------------------------------------------


class Worker:
    def __init__(self, job: Job, log: Path) -> None:
        self.job, self.seconds, self.steps = job, 0.0, 0
        env = {**os.environ, "OMP_NUM_THREADS": str(job.threads), "MKL_NUM_THREADS": str(job.threads),
               "HF_HUB_OFFLINE": "1", "PIXFORGE_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
        if job.root:  # ahead of the installed (editable) pixforge on the import path
            env["PYTHONPATH"] = os.pathsep.join([job.root, str(Path(job.root, "plugins")), env.get("PYTHONPATH", "")])
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(asdict(job))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=HERE,
        )

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"{self.job.title} worker died (exit {self.proc.returncode}); see {self.log.name}")
        return json.loads(line)

    def send(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def turn(self, steps: int) -> None:
        self.send(f"run {steps}")
        answer = self.read()
        self.seconds += answer["seconds"]
        self.steps += answer["steps"]

    def finish(self) -> dict:
        self.send("end")
        memory = self.read()
        self.proc.wait()
        self.log.close()
        return memory


def run_case(case: Case, args: argparse.Namespace, files: dict[str, tuple[Path, Path]], logs: Path) -> list[dict]:
    config, checkpoint = files[case.vq]
    common = dict(case=case, device=args.device, threads=args.threads, vq_config=str(config), vq_checkpoint=str(checkpoint))
    jobs = [Job("reference", **common)]
    if args.baseline:
        jobs.append(Job("pixforge", **common, root=str(args.baseline.resolve())))
    for precision in args.precisions.split(","):
        jobs.append(Job("pixforge", **common, precision=precision, jitter=args.jitter))
        if args.compile:
            jobs.append(Job("pixforge", **common, precision=precision, jitter=args.jitter, compile=True))
    for variant in args.variant:
        label, _, sets = variant.partition(":")
        jobs.append(Job("pixforge", **common, jitter=args.jitter, variant=label, overrides=tuple(sets.split(";"))))
    workers = []
    for i, job in enumerate(jobs):  # built one after another, so building never overlaps a timed turn
        worker = Worker(job, logs / f"{case.name}-{i}.log")
        try:
            worker.read()  # ready: built and warmed up
        except RuntimeError as error:  # one row's failure (a GPU run is rare) must not lose the others
            worker.log.close()
            report_failure(case, error, [Path(worker.log.name)])
            continue
        workers.append(worker)
    if not workers:  # each failure is reported above
        return []
    for round_ in range(case.rounds):
        order = workers if round_ % 2 == 0 else workers[::-1]
        for worker in order:
            worker.turn(case.chunk)
    rows = []
    for worker in workers:
        memory = worker.finish()
        rows.append({"case": case, "job": worker.job, "rate": worker.steps / worker.seconds, **memory})
    reference = rows[0]["rate"] if rows[0]["job"].loop == "reference" else None
    for row in rows:
        row["ratio"] = row["rate"] / reference if reference else None
    return rows


def report_failure(case: Case, error: RuntimeError, logs: list[Path]) -> None:
    """The error and the end of each worker log that explains it, on stderr."""
    print(f"  {case.name}: failed: {error}", file=sys.stderr)
    for path in logs:
        print(path.read_text()[-3000:], file=sys.stderr)


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu ({name}, {os.cpu_count()} cores)"


def table(rows: list[dict], device: str) -> str:
    memory = "peak CUDA MB" if device.startswith("cuda") else "peak RSS MB"
    lines = [
        f"| case | models | px | cutouts | loop | precision | steps/s | × reference | {memory} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        case, job = row["case"], row["job"]
        loop = "reference" if job.loop == "reference" else job.title
        if job.jitter:
            loop += f", {job.jitter} jitter"
        mem = row.get("cuda_mb", row["rss_mb"])
        lines.append(
            f"| {case.name} | {case.label} | {case.size} | {case.cutn} | {loop} | {row['precision']} | "
            f"{row['rate']:.3f} | {'—' if row['ratio'] is None else format(row['ratio'], '.2f')} | {mem:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="tiny-16,tiny-32,vit-16,vit-32", help=f"from {', '.join(CASES)}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every worker (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default="fp32", help="pixforge perceptor precisions, one row each")
    parser.add_argument("--compile", action="store_true", help="also a row with pixforge's compile switch")
    parser.add_argument("--jitter", choices=["matrix", "hsv"], help="pixforge's colour jitter method (default: its default)")
    parser.add_argument("--baseline", type=Path, help="also a row for the pixforge source tree in this folder (before/after)")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:KEY=VALUE[;KEY=VALUE]",
                        help="also a pixforge row with these --set overrides (repeatable), e.g. "
                        "'contiguous:generator.settings.channels_last=false'")
    parser.add_argument("--warmup", type=int, help="warm-up steps (default: per case)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default: per case)")
    parser.add_argument("--chunk", type=int, help="steps per turn (default: per case)")
    parser.add_argument("--workdir", type=Path, help="where the random VQGAN weights are kept (default: a temp dir)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        data = json.loads(args.worker)
        data["case"] = Case(**data["case"])
        run_worker(Job(**data))
        return

    import torch

    cases = []
    for name in args.cases.split(","):
        case = CASES[name]
        for key in ("warmup", "rounds", "chunk"):
            if getattr(args, key) is not None:
                setattr(case, key, getattr(args, key))
        cases.append(case)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pixforge-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        files = {"tiny": TINY_VQ}
        if any(c.vq == "f16-16384" for c in cases):
            files["f16-16384"] = random_vq_files(workdir)
        logs = Path(tmp) / "logs"
        logs.mkdir()
        print(f"device {describe_device(args.device)}, torch {torch.__version__}, torch threads {args.threads}")
        print(f"prompt '{PROMPT}'; each loop in its own process, turns alternating; steps/s over the timed turns")
        rows = []
        for case in cases:
            print(f"  {case.name}: {case.warmup} warm-up steps, then {case.rounds} rounds of {case.chunk} steps",
                  file=sys.stderr, flush=True)
            try:
                rows += run_case(case, args, files, logs)
            except RuntimeError as error:  # a worker died during a timed turn
                report_failure(case, error, sorted(logs.glob(f"{case.name}-*.log")))
        print(table(rows, args.device))
        print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
