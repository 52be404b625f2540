"""Every component registered by the installed first-party plugins meets its kind's contract (default settings)."""

from __future__ import annotations

import pytest

from pixforge.plugins import default_registry
from pixforge.testing import (
    AugmentationContract,
    DummyGenerator,
    DummyPerceptor,
    GeneratorContract,
    LossContract,
    ObserverContract,
    PerceptorContract,
)

REGISTRY = default_registry()
FIXTURES = ("contract_component", "contract_settings")


def cases(kind: str) -> list:
    """One case per registered component of ``kind``, with its default settings; empty if none is registered."""
    entries = REGISTRY.components.get(kind, {})
    return [pytest.param(entries[name].cls, {}, id=name) for name in sorted(entries)]


@pytest.mark.parametrize(FIXTURES, cases("generator"))
class TestGenerators(GeneratorContract):
    pass


@pytest.mark.parametrize(FIXTURES, cases("perceptor"))
class TestPerceptors(PerceptorContract):
    pass


@pytest.mark.parametrize(FIXTURES, cases("loss"))
class TestLosses(LossContract):
    pass


@pytest.mark.parametrize(FIXTURES, cases("augmentation"))
class TestAugmentations(AugmentationContract):
    pass


@pytest.mark.parametrize(FIXTURES, cases("observer"))
class TestObservers(ObserverContract):
    pass


class TestDummyGenerator(GeneratorContract):
    component = DummyGenerator


class TestDummyPerceptor(PerceptorContract):
    component = DummyPerceptor
    settings = {"size": 24, "dim": 8}


def test_every_kind_has_a_contract() -> None:
    from pixforge.components import COMPONENT_KINDS
    from pixforge.testing import CONTRACTS

    assert set(CONTRACTS) == set(COMPONENT_KINDS)


def test_first_party_components_are_registered() -> None:
    assert "pixel" in REGISTRY.names("generator")
    assert "clip" in REGISTRY.names("perceptor")
    assert {"clip_prompt", "smoothness", "saturation", "symmetry", "init_image"} <= set(REGISTRY.names("loss"))
