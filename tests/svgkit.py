"""An SVG rasteriser for the subset the strokes generator writes, written apart from its own rasteriser.

It reads the file (``<rect>`` background, ``<path d="M x y C ...">`` with stroke, stroke-width and
stroke-opacity), flattens each cubic by de Casteljau subdivision (not Bernstein sampling) and covers each
pixel by 4x4 supersampling with hard edges, as an SVG renderer antialiases: a second path to the same picture.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np

NS = "{http://www.w3.org/2000/svg}"
SUPERSAMPLE = 4


def _colour(text: str) -> np.ndarray:
    match = re.fullmatch(r"rgb\((\d+),(\d+),(\d+)\)", text)
    if not match:
        raise ValueError(f"colour {text!r} is outside the subset")
    return np.array([int(v) for v in match.groups()], dtype=np.float64) / 255


def _cubics(d: str) -> list[np.ndarray]:
    """``M x y C ...`` (absolute) → each segment's four control points ``[4, 2]``."""
    tokens = re.findall(r"[MC]|-?\d+(?:\.\d+)?", d)
    if not tokens or tokens[0] != "M":
        raise ValueError(f"path {d!r} does not start with M")
    current = np.array([float(tokens[1]), float(tokens[2])])
    segments, i = [], 3
    while i < len(tokens):
        if tokens[i] != "C":
            raise ValueError(f"command {tokens[i]!r} is outside the subset")
        xy = np.array([float(t) for t in tokens[i + 1 : i + 7]]).reshape(3, 2)
        segments.append(np.vstack([current, xy]))
        current = xy[-1]
        i += 7
    return segments


def _flatten(control: np.ndarray, depth: int = 5) -> list[np.ndarray]:
    """de Casteljau: split at t = 1/2 ``depth`` times; the end points of the pieces."""
    if depth == 0:
        return [control[0], control[3]]
    p01, p12, p23 = (control[:-1] + control[1:]) / 2
    p012, p123 = (p01 + p12) / 2, (p12 + p23) / 2
    mid = (p012 + p123) / 2
    left = _flatten(np.array([control[0], p01, p012, mid]), depth - 1)
    right = _flatten(np.array([mid, p123, p23, control[3]]), depth - 1)
    return left + right[1:]


def _distance(points: np.ndarray, samples: np.ndarray) -> np.ndarray:
    a, b = points[:-1], points[1:]
    ab = b - a
    t = np.einsum("pmd,md->pm", samples[:, None] - a[None], ab) / np.maximum((ab**2).sum(-1), 1e-12)
    nearest = a[None] + np.clip(t, 0, 1)[..., None] * ab[None]
    return np.sqrt(((samples[:, None] - nearest) ** 2).sum(-1)).min(axis=1)


def rasterise_svg(text: str, rgba: bool = False) -> np.ndarray:
    """The picture ``[H, W, 3]`` in 0..1 that the SVG text describes; with ``rgba``, ``[H, W, 4]``: colour
    premultiplied by the alpha, then the alpha (a file with no background rectangle starts transparent)."""
    root = ET.fromstring(text)
    width, height = int(root.get("width")), int(root.get("height"))
    offsets = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    ys = (np.arange(height)[:, None] + offsets[None]).reshape(-1)
    xs = (np.arange(width)[:, None] + offsets[None]).reshape(-1)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    image = np.zeros((len(grid), 3))  # premultiplied
    cover = np.zeros((len(grid), 1))
    for element in root:
        if element.tag == f"{NS}rect":
            image[:] = _colour(element.get("fill"))
            cover[:] = 1.0
        elif element.tag == f"{NS}path":
            points = np.vstack([p for seg in _cubics(element.get("d")) for p in _flatten(seg)])
            inside = _distance(points, grid) <= float(element.get("stroke-width")) / 2
            alpha = inside[:, None] * float(element.get("stroke-opacity"))
            image = image * (1 - alpha) + _colour(element.get("stroke"))[None] * alpha
            cover = cover * (1 - alpha) + alpha
        else:
            raise ValueError(f"element {element.tag!r} is outside the subset")
    picture = np.concatenate([image, cover], axis=1) if rgba else image
    picture = picture.reshape(height, SUPERSAMPLE, width, SUPERSAMPLE, picture.shape[1])
    return picture.mean(axis=(1, 3))
