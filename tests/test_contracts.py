"""Every component registered by the installed first-party plugins meets its kind's contract (default settings)."""

from __future__ import annotations

import pytest

from pixforge.kinds import KINDS
from pixforge.plugins import default_registry
from pixforge.testing import CONTRACTS, DummyGenerator, DummyPerceptor, GeneratorContract, PerceptorContract

REGISTRY = default_registry()
FIXTURES = ("contract_component", "contract_settings")


def cases(kind: str) -> list:
    """One case per registered component of ``kind``, with its default settings; empty if none is registered."""
    entries = REGISTRY.components.get(kind, {})
    return [pytest.param(entries[name].cls, {}, id=name) for name in sorted(entries)]


# one contract test class per component kind, over every component of that kind (a new kind needs no edit here)
for _kind in KINDS:
    _name = f"Test{_kind.field.capitalize()}"
    globals()[_name] = pytest.mark.parametrize(FIXTURES, cases(_kind.name))(type(_name, (CONTRACTS[_kind.name],), {}))


class TestDummyGenerator(GeneratorContract):
    component = DummyGenerator


class TestDummyPerceptor(PerceptorContract):
    component = DummyPerceptor
    settings = {"size": 24, "dim": 8}


def test_first_party_components_are_registered() -> None:
    assert "pixel" in REGISTRY.names("generator")
    assert "clip" in REGISTRY.names("perceptor")
    assert {"clip_prompt", "smoothness", "saturation", "symmetry", "init_image"} <= set(REGISTRY.names("loss"))
