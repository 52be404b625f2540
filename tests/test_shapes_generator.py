"""The zoo's ``shapes`` generator meets the generator contract (an alpha channel included)."""

from __future__ import annotations

import pytest
import torch

from pixforge.testing import GeneratorContract
from pixforge_zoo.shapes import ShapesGenerator


@pytest.mark.parametrize(("contract_component", "contract_settings"), [(ShapesGenerator, {}), (ShapesGenerator, {"edge": 3.0})])
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
