"""Strokes as an SVG document: one ``<path d="M x y C ...">`` a stroke over a background rectangle (none when
the render is transparent).

The file says exactly what the rasteriser draws: the same control points in the same pixel coordinates,
``stroke-width``, ``stroke`` colour and ``stroke-opacity``, round caps and joins, painted in order.
"""

from __future__ import annotations

import torch


def _number(value: float) -> str:
    """A coordinate with three decimals, trailing zeros dropped (``12.5``, ``3``)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _rgb(colour: torch.Tensor) -> str:
    r, g, b = (int(round(float(c) * 255)) for c in colour.clamp(0, 1))
    return f"rgb({r},{g},{b})"


def path_data(points: torch.Tensor) -> str:
    """``[3S+1, 2]`` control points → ``"M x y C x1 y1 x2 y2 x3 y3 C ..."``."""
    xy = [f"{_number(float(x))} {_number(float(y))}" for x, y in points.tolist()]
    segments = [" ".join(xy[i + 1 : i + 4]) for i in range(0, len(xy) - 1, 3)]
    return f"M {xy[0]} " + " ".join(f"C {segment}" for segment in segments)


def strokes_svg(
    points: torch.Tensor, widths: torch.Tensor, colours: torch.Tensor, background: torch.Tensor | None, width: int,
    height: int,
) -> str:
    """The SVG text of strokes (``pixforge_strokes.raster.rasterise``'s arguments) on a ``width`` x ``height``
    canvas; with no ``background`` (a transparent render) the canvas has no background rectangle."""
    points, widths, colours = (t.detach().float().cpu() for t in (points, widths, colours))
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
    ]
    if background is not None:
        lines.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="{_rgb(background.detach().float().cpu())}"/>')
    for stroke, stroke_width, colour in zip(points, widths, colours):
        lines.append(
            f'<path d="{path_data(stroke)}" fill="none" stroke="{_rgb(colour[:3])}" '
            f'stroke-width="{_number(float(stroke_width))}" stroke-opacity="{_number(float(colour[3].clamp(0, 1)))}" '
            'stroke-linecap="round" stroke-linejoin="round"/>'
        )
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
