"""Gradient checkpointing in the vqgan and dvae decoders changes memory and time, never the picture or its gradient."""

from __future__ import annotations

import pytest
import torch

from pixforge import Pipeline
from pixforge.seeding import seeded


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline()


def _image_and_grad(pipe: Pipeline, name: str, checkpointing: bool) -> tuple[torch.Tensor, torch.Tensor]:
    config = pipe.resolve("a", size=32, overrides=[f"generator={{name: {name}, settings: {{checkpointing: "
                                                   f"{str(checkpointing).lower()}}}}}"])
    with seeded(3):
        generator = pipe.build_component("generator", config.generator, pipe.context(config, torch.device("cpu")))
        generator.init(None)
        image = generator()
    (image * torch.linspace(0, 1, image.shape[-1])).mean().backward()
    (param,) = generator.parameters_to_optimize()
    return image.detach(), param.grad.clone()


@pytest.mark.parametrize("name", ["vqgan", "dvae"])
def test_checkpointing_gives_the_same_image_and_gradient(pipe, name) -> None:
    plain, plain_grad = _image_and_grad(pipe, name, checkpointing=False)
    checked, checked_grad = _image_and_grad(pipe, name, checkpointing=True)
    assert torch.allclose(plain, checked, atol=1e-6)
    assert plain_grad.abs().sum() > 0
    assert torch.allclose(plain_grad, checked_grad, atol=1e-6, rtol=1e-4)


def test_checkpointing_is_a_strict_setting(pipe) -> None:
    from pixforge import ConfigError

    with pytest.raises(ConfigError, match="checkpointing"):
        pipe.resolve("a", overrides=["generator.settings.checkpointing=sometimes"])
