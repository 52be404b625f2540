"""Off-world colours named by their nearest world colour: the recolouring the CLIP trainers can train on."""

from __future__ import annotations

import random

import torch

from pixforge_zoo import colour_cells, world
from pixforge_zoo.judge import colour_labels
from pixforge_zoo.tiny_clip import default_tokenizer
from pixforge_zoo.train_clip import TrainSettings, make_batch


def test_samples_lie_in_their_colours_cells_and_are_not_the_colours_themselves():
    names = list(world.COLORS) * 20
    colours = colour_cells.sample_in_cells(names, torch.Generator().manual_seed(0))
    table = list(world.COLORS)
    assert [table[i] for i in colour_cells.nearest(colours).tolist()] == names
    # they spread over the cells rather than sitting on the world colours
    assert (colours - colour_cells.palette()[[table.index(n) for n in names]]).abs().max(1).values.median() > 0.1


def test_recolour_keeps_the_shape_and_the_names_the_judge_reads():
    scenes = [world.Scene("circle", "purple", "cyan", "large", "centre"), world.Scene("star", "red", "white", "large", "centre")]
    images, alpha = world.render_batch_with_alpha(scenes, 64)
    painted, repainted = colour_cells.recolour(images, alpha, scenes, torch.Generator().manual_seed(1), p=1.0)
    assert repainted.all()
    assert not torch.equal(painted, images)
    for image, scene, a in zip(painted, scenes, alpha):
        names, labels = colour_labels(image)
        inside, outside = a[0] > 0.99, a[0] < 0.01
        assert (labels[inside] == names.index(scene.color)).float().mean() > 0.9
        assert (labels[outside] == names.index(scene.background)).float().mean() > 0.9


def test_recolouring_is_seeded_and_off_by_default():
    settings = TrainSettings(groups=2, nonsense=2)
    plain = make_batch(torch.Generator().manual_seed(0), random.Random(0), default_tokenizer(), settings)
    painted = TrainSettings(groups=2, nonsense=2, off_palette_p=0.5)
    first = make_batch(torch.Generator().manual_seed(0), random.Random(0), default_tokenizer(), painted)
    again = make_batch(torch.Generator().manual_seed(0), random.Random(0), default_tokenizer(), painted)
    assert torch.equal(first.images, again.images)
    assert not torch.equal(first.images, plain.images)
    assert first.repainted.any() and not plain.repainted.any()
    assert len(first.repainted) == len(first.images)
