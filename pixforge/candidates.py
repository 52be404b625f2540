"""Best of N: render several seeds, score each final image by CLIP against the prompt, keep the best.

A generator that renders several independent samples in one batch (``Generator.samples_setting``)
makes all N in one render instead: same seed, N samples, each scored the same way. The score is the
render's own perceptors' cosine similarity between the final image and each text prompt, weighted by
prompt and perceptor weights — the same models that guided the render — taken on the whole picture or
averaged over a few large crops of it (``ranking.views``: a small CLIP's score of one view is noisy).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from .components import Perceptor
from .config import RenderConfig
from .outputs import atomic_copy, save_png, tensor_to_pil
from .prompts import parse_prompts
from .results import RenderResult
from .run_folder import RunFolder
from .sheet import contact_sheet


@dataclass
class Candidate:
    """One rendered seed (or one sample of a batched render) and its CLIP score."""

    seed: int
    score: float
    result: RenderResult
    #: the sample's position in a batched render; None for a render of its own
    sample: int | None = None

    def label(self) -> str:
        return f"seed {self.seed}" if self.sample is None else f"seed {self.seed} sample {self.sample}"

    def describe(self) -> dict[str, object]:
        """What ``extras["candidates"]`` and the sweep summary record of it."""
        return {"seed": self.seed, "sample": self.sample, "score": self.score, "run_dir": str(self.result.run_dir)}


#: the PNG text key naming a batched render's sample
SAMPLE_KEY = "pixforge:sample"


def candidate_seeds(seed: int, count: int) -> list[int]:
    """The seeds tried: the render's seed, then the ones after it."""
    return [seed + index for index in range(count)]


def clip_score(image: torch.Tensor, config: RenderConfig, perceptors: list[tuple[Perceptor, float]]) -> float:
    """Weighted cosine similarity of the image to the text prompts, summed over perceptors, averaged over
    the settings' ranking views (``config.ranking``)."""
    return float(clip_scores(image, config, perceptors, views=config.ranking.views)[0])


def view_boxes(width: int, height: int, views: int, min_size: float) -> list[tuple[int, int, int]]:
    """``(x, y, side)`` of ``views`` square crops, a side from ``min_size`` of the shorter side to all of
    it, drawn from a fixed seed so every candidate is judged on the same crops."""
    shorter = min(width, height)
    generator = torch.Generator().manual_seed(0)
    boxes = []
    for _ in range(views):
        lowest = max(1, round(shorter * min_size))
        side = int(torch.randint(lowest, shorter + 1, (1,), generator=generator))
        x = int(torch.randint(0, width - side + 1, (1,), generator=generator))
        y = int(torch.randint(0, height - side + 1, (1,), generator=generator))
        boxes.append((x, y, side))
    return boxes


def clip_scores(
    images: torch.Tensor, config: RenderConfig, perceptors: list[tuple[Perceptor, float]], chunk: int = 64,
    views: int = 1,
) -> torch.Tensor:
    """``clip_score`` of each of ``[M, 3, H, W]`` images at once (in chunks of ``chunk``): ``[M]`` on the CPU;
    ``views`` > 1 averages over that many crops (``view_boxes``, ``config.ranking.min_size``), 1 scores
    the whole picture."""
    prompts = parse_prompts(config.prompt)
    total = torch.zeros(images.shape[0])
    if not prompts:
        return total
    height, width = images.shape[-2:]
    boxes = view_boxes(width, height, views, config.ranking.min_size) if views > 1 else [None]
    with torch.no_grad():
        for perceptor, weight in perceptors:
            size = perceptor.input_size
            texts = perceptor.encode_text([p.value for p in prompts])
            weights = torch.tensor([p.weight for p in prompts], device=texts.device)
            for start in range(0, images.shape[0], chunk):
                part = images[start : start + chunk].to(perceptor.device)
                similarity = torch.zeros(part.shape[0], dtype=torch.float64)
                for box in boxes:
                    view = part if box is None else part[..., box[1] : box[1] + box[2], box[0] : box[0] + box[2]]
                    picture = F.interpolate(view, size=(size, size), mode="bilinear", antialias=True)
                    similarity += ((perceptor.encode_image(picture) @ texts.T) @ weights).double().cpu()
                total[start : start + chunk] += weight * (similarity / len(boxes)).float()
    return total


def rank_candidates(
    results: list[RenderResult], config: RenderConfig, perceptors: list[tuple[Perceptor, float]]
) -> list[Candidate]:
    """Score every render and sort best first (ties keep seed order)."""
    scored = [Candidate(r.seed, clip_score(r.tensor, config, perceptors), r) for r in results]
    return sorted(scored, key=lambda c: -c.score)


def split_samples(result: RenderResult) -> list[RenderResult]:
    """One result per sample of a batched render, each with its own ``final.png`` under ``candidates/``.

    Each PNG keeps the batch render's settings and names its sample, so it can be traced back.
    """
    if result.samples is None:
        return [result]
    with Image.open(result.final_path) as png:
        text = {key: str(value) for key, value in png.text.items()}
    parts = []
    for index in range(result.samples.shape[0]):
        tensor = result.samples[index : index + 1]
        folder = result.run_dir.parent / f"sample-{index}"
        save_png(RunFolder(folder).final, tensor, {**text, SAMPLE_KEY: str(index)})
        parts.append(replace(result, image=tensor_to_pil(tensor), tensor=tensor, run_dir=folder, samples=None))
    return parts


def rank_samples(
    result: RenderResult, config: RenderConfig, perceptors: list[tuple[Perceptor, float]]
) -> list[Candidate]:
    """Score every sample of one batched render and sort best first (ties keep sample order)."""
    scored = [
        Candidate(part.seed, clip_score(part.tensor, config, perceptors), part, index)
        for index, part in enumerate(split_samples(result))
    ]
    return sorted(scored, key=lambda c: -c.score)


def write_ranking(run_dir: Path, ranked: list[Candidate]) -> Path:
    """``candidates.png`` (ranked contact sheet) and the best render's ``final.png`` in ``run_dir``, with the
    files its generator wrote beside it (a strokes render's ``final.svg``)."""
    sheet = contact_sheet(
        [c.result.image for c in ranked],
        [f"#{rank} {c.label()}\nscore {c.score:.3f}" for rank, c in enumerate(ranked, start=1)],
        title="best of {} by CLIP score".format(len(ranked)),
    )
    save_png(run_dir / "candidates.png", sheet)
    folder = RunFolder(run_dir)
    atomic_copy(ranked[0].result.final_path, folder.final)
    best = ranked[0].result.final_path.parent
    if best != run_dir:
        for extra in RunFolder(best).extra_files():
            folder.write_bytes(extra.name, extra.read_bytes())
    return folder.final

