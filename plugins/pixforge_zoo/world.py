"""A tiny synthetic world of captioned images: one coloured shape on a coloured background.

The tiny CLIP and the tiny VQGAN both learn from this world, so they agree on what "a red circle on a
blue background" looks like. Everything is seeded: the same seed gives the same scenes, pixels and
captions. Shapes are drawn from signed distance functions with analytic pixel coverage (anti-aliased
without supersampling), vectorised over a batch, so thousands of images render per second on a CPU.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Union

import torch
from PIL import Image

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "ring", "cross", "star")
#: fixed sRGB values, far enough apart that mild jitter never makes one colour look like another
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 35),
    "green": (40, 170, 60),
    "blue": (35, 70, 215),
    "yellow": (250, 215, 30),
    "orange": (245, 130, 20),
    "purple": (130, 50, 170),
    "pink": (250, 130, 190),
    "cyan": (40, 210, 220),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
#: shape radius as a fraction of the image side
SIZES: dict[str, float] = {"small": 0.15, "medium": 0.23, "large": 0.32}
#: unit direction of each position from the centre; the distance depends on the size (shapes stay inside)
POSITIONS: dict[str, tuple[float, float]] = {
    "centre": (0.0, 0.0),
    "top left": (-1.0, -1.0),
    "top right": (1.0, -1.0),
    "bottom left": (-1.0, 1.0),
    "bottom right": (1.0, 1.0),
}
ATTRIBUTES: tuple[str, ...] = ("shape", "color", "background", "size", "position")

#: caption templates: the attributes each one names, and its text
TEMPLATES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("shape",), "a {shape}"),
    (("color", "shape"), "a {color} {shape}"),
    (("size", "color", "shape"), "a {size} {color} {shape}"),
    (("color", "shape", "position"), "a {color} {shape} in the {position}"),
    (("size", "color", "shape", "position"), "a {size} {color} {shape} in the {position}"),
    (("shape", "background"), "a {shape} on a {background} background"),
    (("color", "shape", "background"), "a {color} {shape} on a {background} background"),
    (("size", "color", "shape", "background"), "a {size} {color} {shape} on a {background} background"),
    (("color", "shape", "position", "background"), "a {color} {shape} in the {position} on a {background} background"),
    (
        ("size", "color", "shape", "position", "background"),
        "a {size} {color} {shape} in the {position} on a {background} background",
    ),
    (("color",), "a {color} shape"),
    (("color", "background"), "a {color} shape on a {background} background"),
    (("background",), "a {background} background"),
)

Rng = Union[torch.Generator, random.Random]


@dataclass(frozen=True)
class Scene:
    """What one image shows; every field is a name from SHAPES, COLORS, SIZES or POSITIONS."""

    shape: str
    color: str
    background: str
    size: str
    position: str

    def __post_init__(self) -> None:
        for name, table in (
            ("shape", SHAPES),
            ("color", COLORS),
            ("background", COLORS),
            ("size", SIZES),
            ("position", POSITIONS),
        ):
            if getattr(self, name) not in table:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; known: {', '.join(table)}")
        if self.color == self.background:
            raise ValueError(f"shape and background are both {self.color}: the shape would be invisible")


# ----------------------------------------------------------------------------------------------- sampling


def _randbelow(rng: Rng, n: int) -> int:
    if isinstance(rng, random.Random):
        return rng.randrange(n)
    return int(torch.randint(n, (1,), generator=rng).item())


def sample_scene(gen: Rng) -> Scene:
    """A uniformly random scene (shape colour and background always differ)."""
    colors = list(COLORS)
    shape = SHAPES[_randbelow(gen, len(SHAPES))]
    color = colors[_randbelow(gen, len(colors))]
    others = [c for c in colors if c != color]
    background = others[_randbelow(gen, len(others))]
    size = list(SIZES)[_randbelow(gen, len(SIZES))]
    position = list(POSITIONS)[_randbelow(gen, len(POSITIONS))]
    return Scene(shape, color, background, size, position)


def sample_scenes(n: int, gen: torch.Generator) -> list[Scene]:
    """``n`` random scenes drawn in one vectorised call (much faster than ``sample_scene`` in a loop)."""
    colors, sizes, positions = list(COLORS), list(SIZES), list(POSITIONS)
    shape = torch.randint(len(SHAPES), (n,), generator=gen).tolist()
    color = torch.randint(len(colors), (n,), generator=gen)
    background = ((color + 1 + torch.randint(len(colors) - 1, (n,), generator=gen)) % len(colors)).tolist()
    size = torch.randint(len(sizes), (n,), generator=gen).tolist()
    position = torch.randint(len(positions), (n,), generator=gen).tolist()
    return [
        Scene(SHAPES[s], colors[c], colors[b], sizes[z], positions[p])
        for s, c, b, z, p in zip(shape, color.tolist(), background, size, position)
    ]


# ---------------------------------------------------------------------------------------------- captions


def _fill(template: str, scene: Scene) -> str:
    return template.format(**asdict(scene))


def captions(scene: Scene) -> list[str]:
    """Every caption (one per template) that truly describes ``scene``."""
    return [_fill(text, scene) for _, text in TEMPLATES]


def caption(scene: Scene, rng: Rng) -> str:
    """One true caption of ``scene``, its template picked at random."""
    return _fill(TEMPLATES[_randbelow(rng, len(TEMPLATES))][1], scene)


def describes(attributes: dict[str, str], scene: Scene) -> bool:
    """Whether a caption naming ``attributes`` (e.g. from ``parse_caption``) is true of ``scene``."""
    return all(getattr(scene, key) == value for key, value in attributes.items())


def parse_caption(text: str) -> dict[str, str] | None:
    """The attributes a world caption names, or None if ``text`` is not one of the templates' captions."""
    words = " ".join(text.lower().split())
    for names, template in TEMPLATES:
        pattern = template
        for name in names:
            table = {"shape": SHAPES, "color": COLORS, "background": COLORS, "size": SIZES, "position": POSITIONS}[name]
            pattern = pattern.replace("{" + name + "}", "(" + "|".join(sorted(table, key=len, reverse=True)) + ")")
        match = re.fullmatch(pattern, words)
        if match:
            return dict(zip(names, match.groups()))
    return None


# --------------------------------------------------------------------------------------------- rendering


def _length(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # the tiny epsilon keeps the gradient finite at the origin (the shapes generator differentiates this)
    return torch.sqrt(x * x + y * y + 1e-12)


def _box(x: torch.Tensor, y: torch.Tensor, bx: float, by: float) -> torch.Tensor:
    dx, dy = x.abs() - bx, y.abs() - by
    return _length(dx.clamp(min=0), dy.clamp(min=0)) + torch.maximum(dx, dy).clamp(max=0)


def _circle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return _length(x, y) - 1.0


def _square(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return _box(x, y, 0.84, 0.84)


def _triangle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Equilateral, pointing up (image y grows downwards), centred on its centroid."""
    r, k = 1.0, math.sqrt(3.0)
    px, py = x.abs() - r, -y + r / k
    fold = px + k * py > 0
    px, py = torch.where(fold, (px - k * py) / 2, px), torch.where(fold, (-k * px - py) / 2, py)
    px = px - px.clamp(-2 * r, 0)
    return -_length(px, py) * torch.sign(py)


def _ring(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (_length(x, y) - 0.72).abs() - 0.28


def _cross(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.minimum(_box(x, y, 0.95, 0.3), _box(x, y, 0.3, 0.95))


def _star(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Five-pointed, one point up (Inigo Quilez's exact star distance)."""
    r, rf = 1.08, 0.45
    k1x, k1y = 0.809016994375, -0.587785252292
    px, py = x.abs(), -y
    for kx, ky in ((k1x, k1y), (-k1x, k1y)):
        d = (kx * px + ky * py).clamp(min=0)
        px, py = px - 2 * d * kx, py - 2 * d * ky
    px = px.abs()
    py = py - r
    bax, bay = rf * -k1y - 0.0, rf * k1x - 1.0
    h = ((px * bax + py * bay) / (bax * bax + bay * bay)).clamp(0, r)
    return _length(px - bax * h, py - bay * h) * torch.sign(py * bax - px * bay)


_SDF = {"circle": _circle, "square": _square, "triangle": _triangle, "ring": _ring, "cross": _cross, "star": _star}


def shape_distance(shape: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Signed distance to a unit-size ``shape`` (negative inside) at coordinates ``x``, ``y``; differentiable."""
    return _SDF[shape](x, y)


def color_tensor(name: str) -> torch.Tensor:
    """A named colour as a ``[3]`` tensor in 0..1."""
    return torch.tensor(COLORS[name], dtype=torch.float32) / 255.0


def _as_generator(rng: Rng | int | None) -> torch.Generator | None:
    if rng is None or isinstance(rng, torch.Generator):
        return rng
    if isinstance(rng, random.Random):
        return torch.Generator().manual_seed(rng.getrandbits(63))
    return torch.Generator().manual_seed(int(rng))


def _uniform(n: int, low: float, high: float, gen: torch.Generator | None) -> torch.Tensor:
    if gen is None:
        return torch.full((n,), (low + high) / 2) if low != -high else torch.zeros(n)
    return low + (high - low) * torch.rand(n, generator=gen)


def render_batch(scenes: Sequence[Scene], size: int = 64, rng: Rng | int | None = None) -> torch.Tensor:
    """Render scenes to ``[N, 3, size, size]`` in 0..1.

    ``rng=None`` draws each scene exactly (no jitter); a generator or seed adds the mild variation the
    models train on: shape size/position/rotation jitter, colour jitter, a background gradient, a faint
    low-frequency texture and pixel noise.
    """
    return render_batch_with_alpha(scenes, size, rng)[0]


def render_batch_with_alpha(
    scenes: Sequence[Scene], size: int = 64, rng: Rng | int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like ``render_batch``, also returning the shape's coverage ``[N, 1, size, size]`` (for crops that keep it)."""
    gen = _as_generator(rng)
    n = len(scenes)
    if n == 0:
        return torch.zeros(0, 3, size, size), torch.zeros(0, 1, size, size)
    radius = torch.tensor([SIZES[s.size] for s in scenes]) * (1 + _uniform(n, -0.08, 0.08, gen))
    direction = torch.tensor([POSITIONS[s.position] for s in scenes])
    reach = (0.5 - 1.1 * radius - 0.03).clamp(min=0)
    centre = 0.5 + direction * reach[:, None] + torch.stack([_uniform(n, -0.03, 0.03, gen) for _ in range(2)], 1)
    angle = _uniform(n, -0.25, 0.25, gen)

    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    dx = gx[None] - centre[:, 0, None, None]
    dy = gy[None] - centre[:, 1, None, None]
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    scale = radius[:, None, None]
    x, y = (cos * dx + sin * dy) / scale, (-sin * dx + cos * dy) / scale

    distance = torch.empty(n, size, size)
    shape_index = torch.tensor([SHAPES.index(s.shape) for s in scenes])
    for index, name in enumerate(SHAPES):
        rows = (shape_index == index).nonzero().flatten()
        if len(rows):
            distance[rows] = _SDF[name](x[rows], y[rows])
    # analytic coverage: distance in pixels, a one-pixel ramp across the edge
    alpha = (0.5 - distance * scale * size).clamp(0, 1)[:, None]

    fg = torch.stack([color_tensor(s.color) for s in scenes])
    bg = torch.stack([color_tensor(s.background) for s in scenes])
    if gen is not None:
        fg = fg + 0.04 * (2 * torch.rand(n, 3, generator=gen) - 1)
        bg = bg + 0.04 * (2 * torch.rand(n, 3, generator=gen) - 1)
    fg = fg[:, :, None, None].expand(n, 3, size, size)
    bg = bg[:, :, None, None].expand(n, 3, size, size)
    if gen is not None:
        theta = 2 * math.pi * torch.rand(n, generator=gen)
        ramp = torch.cos(theta)[:, None, None] * (gx - 0.5) + torch.sin(theta)[:, None, None] * (gy - 0.5)
        bg = bg + (0.12 * torch.rand(n, generator=gen))[:, None, None, None] * ramp[:, None]
        texture = torch.randn(n, 1, 4, 4, generator=gen)
        texture = torch.nn.functional.interpolate(texture, size=(size, size), mode="bicubic", align_corners=False)
        bg = bg + (0.03 * torch.rand(n, generator=gen))[:, None, None, None] * texture
    image = bg * (1 - alpha) + fg * alpha
    if gen is not None:
        sigma = 0.03 * torch.rand(n, generator=gen)[:, None, None, None]
        image = image + sigma * torch.randn(image.shape, generator=gen)
    return image.clamp(0, 1), alpha


def render_scene(scene: Scene, size: int = 64, rng: Rng | int | None = None) -> torch.Tensor:
    """One scene as ``[3, size, size]`` in 0..1 (exact with ``rng=None``, jittered with a generator or seed)."""
    return render_batch([scene], size, rng)[0]


def to_pil(image: torch.Tensor) -> Image.Image:
    """A ``[3, H, W]`` (or ``[1, 3, H, W]``) tensor in 0..1 → an RGB PIL image."""
    if image.dim() == 4:
        image = image[0]
    array = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


# ---------------------------------------------------------------------------------------------- datasets


def batches(n: int, seed: int, size: int = 64, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, list[Scene]]]:
    """``n`` jittered images with their scenes, in batches; the same arguments give the same batches."""
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < n:
        count = min(batch_size, n - done)
        scenes = sample_scenes(count, gen)
        yield render_batch(scenes, size, gen), scenes
        done += count


def dataset(n: int, seed: int, size: int = 64) -> list[tuple[torch.Tensor, Scene]]:
    """``n`` (image ``[3, size, size]``, scene) pairs; deterministic for given ``(n, seed, size)``."""
    return [(image, scene) for images, scenes in batches(n, seed, size) for image, scene in zip(images, scenes)]


def write_samples(folder: Path, n: int, seed: int, size: int = 64) -> list[Path]:
    """Write ``n`` PNGs and a ``captions.jsonl`` (file, one caption, all true captions, scene) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pick = random.Random(seed)
    paths: list[Path] = []
    rows: list[str] = []
    for index, (image, scene) in enumerate(dataset(n, seed, size)):
        path = folder / f"sample_{index:05d}.png"
        to_pil(image).save(path)
        paths.append(path)
        row = {"file": path.name, "caption": caption(scene, pick), "captions": captions(scene), "scene": asdict(scene)}
        rows.append(json.dumps(row))
    (folder / "captions.jsonl").write_text("".join(line + "\n" for line in rows), encoding="utf-8")
    return paths
