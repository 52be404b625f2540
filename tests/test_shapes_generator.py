"""The zoo's ``shapes`` generator meets the generator contract (an alpha channel included)."""

from __future__ import annotations

import pytest
import torch

from pixforge.testing import GeneratorContract
from pixforge_zoo.shapes import ShapesGenerator


@pytest.mark.parametrize(("contract_component", "contract_settings"), [(ShapesGenerator, {}), (ShapesGenerator, {"edge": 3.0}), (ShapesGenerator, {"proposals": 8, "hard": False})])
class TestShapesContract(GeneratorContract):
    pass


def test_a_batch_of_samples_leans_each_to_its_own_shape() -> None:
    from pixforge.components import BuildContext
    from pixforge_zoo.shapes import ShapesGenerator, ShapesSettings
    from pixforge_zoo.world import SHAPES

    context = BuildContext(width=32, height=32, device=torch.device("cpu"))
    torch.manual_seed(0)
    batch = ShapesGenerator(ShapesSettings(batch=8), context)
    batch.init(None)
    assert batch().shape == (8, 3, 32, 32)
    leaning = batch.mix.argmax(dim=1).tolist()
    assert leaning == [k % len(SHAPES) for k in range(8)]
    torch.manual_seed(0)
    one = ShapesGenerator(ShapesSettings(), context)
    one.init(None)
    assert one().shape == (1, 3, 32, 32) and one.mix.abs().max() < 1  # a single picture starts mixed


def _context(side: int = 32):
    from pixforge.components import BuildContext

    return BuildContext(width=side, height=side, device=torch.device("cpu"))


def test_a_hard_picture_shows_one_shape_and_the_soft_mix_still_learns() -> None:
    from pixforge_zoo.shapes import ShapesSettings
    from pixforge_zoo.world import SHAPES

    torch.manual_seed(0)
    hard = ShapesGenerator(ShapesSettings(edge=0.5), _context())
    hard.init(None)
    with torch.no_grad():
        hard.mix.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.6, 0.0, 0.0]]))  # leaning to the ring, others close
        hard.centre.zero_()
    picture = hard()
    soft = ShapesGenerator(ShapesSettings(edge=0.5, hard=False), _context())
    soft.load_state_dict(hard.state_dict())
    assert SHAPES[3] == "ring"
    ground = torch.sigmoid(hard.background)[0]
    middle = picture[0, :, 16, 16]
    assert torch.allclose(middle, ground, atol=0.01)  # the ring's hole shows the ground, not a blend
    assert not torch.allclose(soft()[0, :, 16, 16], ground, atol=0.05)  # the soft mix half fills it
    picture.mean().backward()
    assert hard.mix.grad is not None and hard.mix.grad.abs().sum() > 0


def test_proposals_keep_each_samples_best_start_by_the_score() -> None:
    from pixforge_zoo.shapes import ShapesSettings

    def redness(pictures: torch.Tensor) -> torch.Tensor:
        return pictures[:, 0].mean((1, 2)) - pictures[:, 1:].mean((1, 2, 3))

    def start(proposals: int) -> ShapesGenerator:
        torch.manual_seed(3)
        generator = ShapesGenerator(ShapesSettings(batch=6, proposals=proposals), _context())
        generator.init(None)
        generator.propose(redness)
        return generator

    searched, plain = start(64), start(0)
    assert (redness(searched().detach()) > redness(plain().detach()) + 0.2).all()
    assert torch.equal(searched.mix.argmax(1), plain.mix.argmax(1))  # each sample keeps its own shape
    assert torch.equal(start(64)().detach(), searched().detach())  # seeded: the same search, the same picture
    assert torch.equal(plain().detach(), start(0)().detach())


def test_a_transparent_picture_skips_the_search() -> None:
    from dataclasses import replace

    from pixforge_zoo.shapes import ShapesSettings

    torch.manual_seed(0)
    generator = ShapesGenerator(ShapesSettings(proposals=16), replace(_context(), transparent=True))
    generator.init(None)
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    generator.propose(lambda pictures: pytest.fail("a transparent picture has no ground to score"))
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())


def test_a_hard_draw_without_a_gradient_is_the_same_picture_to_the_bit() -> None:
    """The start search draws only each sample's own shape; it must be the picture a step would draw."""
    from pixforge_zoo.shapes import ShapesSettings

    torch.manual_seed(5)
    generator = ShapesGenerator(ShapesSettings(batch=12, edge=1.5), _context(40))
    generator.init(None)
    with torch.no_grad():
        generator.mix.add_(torch.randn_like(generator.mix))  # every shape chosen by some sample
        generator.angle.uniform_(-3, 3)
        fast = generator()
    assert len(set(generator.mix.argmax(dim=1).tolist())) == 6
    assert torch.equal(fast, generator())  # with a gradient: all six shapes' terms summed
