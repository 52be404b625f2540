"""A soft rasteriser of cubic Bézier strokes in pure torch: differentiable in every point, width and colour.

diffvg does not build on our machines, so strokes are drawn the plain way, in three steps:

1. sample each stroke's curve at K points per cubic segment (Bernstein weights times control points);
2. the distance from every pixel centre to the polyline of those samples (nearest point on each straight
   piece), which gives round caps and joins as an SVG ``stroke-linecap="round"`` does;
3. coverage ``sigmoid((width/2 - distance) / softness)`` times the stroke's opacity, composited stroke over
   stroke in order onto the background ("over", as SVG paints paths in document order), or, with no
   background (``--transparent``), onto nothing: the strokes' own alpha, accumulated by the same rule.

Coordinates are in pixels with pixel ``(i, j)`` covering ``[i, i+1] x [j, j+1]``, SVG's convention, so the
control points go into the SVG file unchanged.
"""

from __future__ import annotations

import torch


def bernstein(samples: int, device: torch.device | None = None) -> torch.Tensor:
    """``[samples, 4]`` cubic Bernstein weights at ``t = 0 .. 1``."""
    t = torch.linspace(0.0, 1.0, samples, device=device).unsqueeze(1)
    s = 1.0 - t
    return torch.cat([s**3, 3 * s**2 * t, 3 * s * t**2, t**3], dim=1)


def sample_curves(points: torch.Tensor, samples: int) -> torch.Tensor:
    """Control points ``[N, 3S+1, 2]`` (S cubic segments a stroke, each sharing its end with the next) →
    ``[N, S*samples, 2]`` points along each curve."""
    count, length, _ = points.shape
    segments = (length - 1) // 3
    index = torch.arange(segments, device=points.device).unsqueeze(1) * 3 + torch.arange(4, device=points.device)
    controls = points[:, index]  # [N, S, 4, 2]
    curve = torch.einsum("kc,nscd->nskd", bernstein(samples, points.device).to(points.dtype), controls)
    return curve.reshape(count, segments * samples, 2)


def pixel_centres(width: int, height: int, device: torch.device | None = None) -> torch.Tensor:
    """``[H*W, 2]`` (x, y) of every pixel's centre, row by row."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) + 0.5,
        torch.arange(width, device=device, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def polyline_distance(polylines: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """``[N, M, 2]`` polylines and ``[P, 2]`` pixels → ``[N, P]`` distance from each pixel to each polyline."""
    start, end = polylines[:, :-1], polylines[:, 1:]  # [N, M-1, 2]
    along = end - start
    length2 = (along**2).sum(-1).clamp_min(1e-12)  # [N, M-1]
    offset = pixels[None, None] - start[:, :, None]  # [N, M-1, P, 2]
    t = ((offset * along[:, :, None]).sum(-1) / length2[:, :, None]).clamp(0.0, 1.0)
    nearest = offset - t[..., None] * along[:, :, None]
    distance2 = (nearest**2).sum(-1).amin(dim=1)  # [N, P]
    return (distance2 + 1e-8).sqrt()


def rasterise(
    points: torch.Tensor,
    widths: torch.Tensor,
    colours: torch.Tensor,
    background: torch.Tensor | None,
    width: int,
    height: int,
    samples: int = 12,
    softness: float = 0.25,
) -> torch.Tensor:
    """Strokes → ``[1, 3, height, width]`` in 0..1, or ``[1, 4, height, width]`` (straight colour, then alpha)
    when ``background`` is None.

    ``points`` ``[N, 3S+1, 2]`` in pixels, ``widths`` ``[N]`` in pixels, ``colours`` ``[N, 4]`` RGBA in 0..1,
    ``background`` ``[3]``; strokes are painted in order, the last on top.
    """
    pixels = pixel_centres(width, height, points.device)
    distance = polyline_distance(sample_curves(points, samples), pixels)  # [N, P]
    coverage = torch.sigmoid((widths[:, None] / 2 - distance) / softness) * colours[:, 3:4]  # [N, P]
    if background is None:
        # onto nothing, premultiplied: a fourth ink of 1 painted by the same rule accumulates the alpha
        inks = torch.cat([colours[:, :3], torch.ones_like(colours[:, :1])], dim=1)
        painted = _paint(coverage, inks, coverage.new_zeros(4, pixels.shape[0]))
        straight = (painted[:3] / painted[3:].clamp_min(1e-4)).clamp(0.0, 1.0)
        return torch.cat([straight, painted[3:]]).reshape(1, 4, height, width)
    start = background.reshape(3, 1).expand(3, pixels.shape[0])
    return _paint(coverage, colours[:, :3], start).reshape(1, 3, height, width)


def _paint(coverage: torch.Tensor, inks: torch.Tensor, canvas: torch.Tensor) -> torch.Tensor:
    """``canvas`` ``[C, P]`` with each stroke's ``inks`` ``[N, C]`` laid "over" it in order, at ``coverage`` ``[N, P]``."""
    for index in range(coverage.shape[0]):
        alpha = coverage[index : index + 1]
        canvas = canvas * (1 - alpha) + inks[index, :, None] * alpha
    return canvas
