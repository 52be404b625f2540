"""Best of N: render several seeds, score each final image by CLIP against the prompt, keep the best.

The score is the render's own perceptors' cosine similarity between the whole final image and each text
prompt, weighted by prompt and perceptor weights — the same models that guided the render.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .components import BuildContext, Perceptor
from .config import RenderConfig
from .engine import RenderResult
from .outputs import save_png
from .prompts import parse_prompts
from .sheet import contact_sheet


@dataclass
class Candidate:
    """One rendered seed and its CLIP score."""

    seed: int
    score: float
    result: RenderResult


def candidate_seeds(seed: int, count: int) -> list[int]:
    """The seeds tried: the render's seed, then the ones after it."""
    return [seed + index for index in range(count)]


def clip_score(image: torch.Tensor, config: RenderConfig, perceptors: list[tuple[Perceptor, float]]) -> float:
    """Weighted cosine similarity of the whole image to the text prompts, summed over perceptors."""
    prompts = parse_prompts(config.prompt)
    if not prompts:
        return 0.0
    total = 0.0
    with torch.no_grad():
        for perceptor, weight in perceptors:
            size = perceptor.input_size
            device = next((b.device for b in perceptor.buffers()), torch.device("cpu"))
            picture = F.interpolate(image.to(device), size=(size, size), mode="bilinear", antialias=True)
            embedding = perceptor.encode_image(picture)
            texts = perceptor.encode_text([p.value for p in prompts])
            weights = torch.tensor([p.weight for p in prompts], device=texts.device)
            total += weight * float((embedding @ texts.T).squeeze(0) @ weights)
    return total


def rank_candidates(
    results: list[RenderResult], config: RenderConfig, perceptors: list[tuple[Perceptor, float]]
) -> list[Candidate]:
    """Score every render and sort best first (ties keep seed order)."""
    scored = [Candidate(r.seed, clip_score(r.tensor, config, perceptors), r) for r in results]
    return sorted(scored, key=lambda c: -c.score)


def write_ranking(run_dir: Path, ranked: list[Candidate]) -> Path:
    """``candidates.png`` (ranked contact sheet) and the best render's ``final.png`` in ``run_dir``."""
    sheet = contact_sheet(
        [c.result.image for c in ranked],
        [f"#{rank} seed {c.seed}\nscore {c.score:.3f}" for rank, c in enumerate(ranked, start=1)],
        title="best of {} by CLIP score".format(len(ranked)),
    )
    save_png(run_dir / "candidates.png", sheet)
    best = ranked[0].result.final_path
    tmp = run_dir / ".final.png.tmp"
    shutil.copyfile(best, tmp)
    tmp.replace(run_dir / "final.png")
    return run_dir / "final.png"


def perceptors_for(pipeline, config: RenderConfig, context: BuildContext) -> list[tuple[Perceptor, float]]:
    """The render's perceptors (from the pipeline's cache, so nothing is loaded twice) with their weights."""
    return [(pipeline.perceptor(spec, context), spec.weight) for spec in config.perceptors]
