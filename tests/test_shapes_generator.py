"""The zoo's ``shapes`` generator meets the generator contract (an alpha channel included)."""

from __future__ import annotations

import pytest

from pixforge.testing import GeneratorContract
from pixforge_zoo.shapes import ShapesGenerator


@pytest.mark.parametrize(("contract_component", "contract_settings"), [(ShapesGenerator, {}), (ShapesGenerator, {"edge": 3.0})])
class TestShapesContract(GeneratorContract):
    pass
