"""The synthetic world: seeded, every shape and colour drawn, captions true of their scenes, samples CLI."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from itertools import combinations

import pytest
import torch

from pixforge_zoo import world


def test_same_seed_same_pixels_and_scenes():
    a, b = world.dataset(16, seed=5), world.dataset(16, seed=5)
    assert all(torch.equal(x, y) and s == t for (x, s), (y, t) in zip(a, b))
    c = world.dataset(16, seed=6)
    assert not all(torch.equal(x, y) for (x, _), (y, _) in zip(a, c))
    assert all(image.shape == (3, 64, 64) and 0 <= image.min() and image.max() <= 1 for image, _ in a)


def test_sample_scene_is_seeded_with_either_generator():
    for make in (lambda: random.Random(3), lambda: torch.Generator().manual_seed(3)):
        first = [world.sample_scene(make()) for _ in range(2)]
        assert first[0] == first[1]
    scenes = world.sample_scenes(500, torch.Generator().manual_seed(0))
    assert all(s.color != s.background for s in scenes)
    assert {s.shape for s in scenes} == set(world.SHAPES) and {s.color for s in scenes} == set(world.COLORS)


def test_every_colour_is_drawn_exactly_without_jitter():
    for color in world.COLORS:
        background = "black" if color != "black" else "white"
        image = world.render_scene(world.Scene("circle", color, background, "large", "centre"))
        expected = torch.tensor(world.COLORS[color]) / 255
        assert torch.allclose(image[:, 32, 32], expected, atol=1e-6)
        assert torch.allclose(image[:, 1, 1], torch.tensor(world.COLORS[background]) / 255, atol=1e-6)


def test_every_shape_is_drawn_distinctly_and_anti_aliased():
    masks = {}
    for shape in world.SHAPES:
        image = world.render_scene(world.Scene(shape, "white", "black", "large", "centre"))
        coverage = image.mean(0)
        assert 0.08 < coverage.mean() < 0.5, shape
        assert ((coverage > 0.05) & (coverage < 0.95)).any(), f"{shape} has no soft edge"
        masks[shape] = coverage > 0.5
    for a, b in combinations(world.SHAPES, 2):
        iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert iou < 0.85, (a, b, float(iou))


def test_sizes_and_positions_move_the_shape():
    def centre_of_mass(scene):
        mask = world.render_scene(scene).mean(0)
        mask = mask - mask.min()
        ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        return float((mask * xs).sum() / mask.sum()), float((mask * ys).sum() / mask.sum()), float(mask.sum())

    x, y, small = centre_of_mass(world.Scene("circle", "white", "black", "small", "top left"))
    assert x < 24 and y < 24
    x, y, _ = centre_of_mass(world.Scene("circle", "white", "black", "small", "bottom right"))
    assert x > 40 and y > 40
    _, _, large = centre_of_mass(world.Scene("circle", "white", "black", "large", "centre"))
    assert large > 3 * small


def test_captions_describe_their_scene_and_only_it():
    gen = torch.Generator().manual_seed(1)
    for scene in world.sample_scenes(50, gen):
        texts = world.captions(scene)
        assert len(texts) == len(world.TEMPLATES) == len(set(texts))
        for text in texts:
            attributes = world.parse_caption(text)
            assert attributes is not None and world.describes(attributes, scene), text
        assert world.caption(scene, random.Random(0)) in texts
        other = world.Scene(scene.shape, scene.background, scene.color, scene.size, scene.position)
        assert not world.describes(world.parse_caption(texts[1]), other)  # "a {colour} {shape}"
    assert world.captions(world.Scene("circle", "red", "blue", "large", "centre"))[6] == "a red circle on a blue background"
    assert world.parse_caption("a small green star in the top left") == {
        "size": "small", "color": "green", "shape": "star", "position": "top left"
    }


def test_bad_scenes_are_refused():
    with pytest.raises(ValueError, match="unknown shape"):
        world.Scene("blob", "red", "blue", "large", "centre")
    with pytest.raises(ValueError, match="invisible"):
        world.Scene("circle", "red", "red", "large", "centre")


def test_to_pil_round_trips():
    image = world.render_scene(world.Scene("star", "yellow", "purple", "medium", "centre"), size=32, rng=0)
    pil = world.to_pil(image)
    assert pil.size == (32, 32) and pil.mode == "RGB"


def test_samples_cli_writes_pngs_and_captions(tmp_path):
    out = tmp_path / "samples"
    done = subprocess.run(
        [sys.executable, "-m", "pixforge.cli", "zoo", "samples", str(out), "--n", "5", "--seed", "2", "--size", "32"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("*.png"))) == 5
    rows = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all((out / row["file"]).is_file() and row["caption"] in row["captions"] for row in rows)
    again = tmp_path / "again"
    world.write_samples(again, 5, seed=2, size=32)
    assert (again / "sample_00003.png").read_bytes() == (out / "sample_00003.png").read_bytes()
