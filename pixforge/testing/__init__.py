"""Contract tests and tiny dummy components, for pixforge itself and for third-party plugin authors.

A plugin's test suite subclasses a contract and names its component; pytest then runs every check::

    from pixforge.testing import GeneratorContract

    class TestMyGenerator(GeneratorContract):
        component = MyGenerator
        settings = {"grid": [8, 8]}

Contracts check what the engine relies on: strict settings, shapes, value ranges, gradients, and
determinism under a seed. The dummies (``DummyGenerator``, ``DummyPerceptor``) are small, deterministic
and free of open_clip, for fast engine tests; ``DummyPlugin()`` registers them as ``dummy``.

It imports pytest, so it is for test code only (``contracts`` holds the contract bases, ``dummies`` the dummies).
"""

from __future__ import annotations

from ..seeding import seeded
from .contracts import (
    CONTRACTS,
    UNKNOWN_KEY,
    AugmentationContract,
    ComponentContract,
    FilterContract,
    GeneratorContract,
    LossContract,
    ObserverContract,
    PerceptorContract,
)
from .dummies import (
    DummyGenerator,
    DummyGeneratorSettings,
    DummyPerceptor,
    DummyPerceptorSettings,
    DummyPlugin,
    build_component,
    make_run_context,
    make_step_state,
    simple_cutouts,
    smooth_image,
    tiny_context,
)

__all__ = [
    "CONTRACTS",
    "UNKNOWN_KEY",
    "AugmentationContract",
    "ComponentContract",
    "DummyGenerator",
    "DummyGeneratorSettings",
    "DummyPerceptor",
    "DummyPerceptorSettings",
    "DummyPlugin",
    "FilterContract",
    "GeneratorContract",
    "LossContract",
    "ObserverContract",
    "PerceptorContract",
    "build_component",
    "make_run_context",
    "make_step_state",
    "seeded",
    "simple_cutouts",
    "smooth_image",
    "tiny_context",
]
