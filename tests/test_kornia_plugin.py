"""The kornia augmentation plugin: found through its entry point, and every op is a sound cutout augmentation."""

from __future__ import annotations

import pytest
import torch
from kornia.augmentation import AugmentationSequential
from kornia.augmentation.base import _AugmentationBase
from torch import nn

from pixforge.augment import compose
from pixforge.components import Augmentation
from pixforge.errors import ConfigError
from pixforge.plugins import default_registry
from pixforge.settings import validate
from pixforge_kornia.ops import AUGMENTATIONS, Erasing
from pixforge_kornia.resized_crop import SizeKeepingResizedCrop

NAMES = [
    "affine",
    "perspective",
    "color_jitter",
    "erasing",
    "sharpness",
    "gaussian_noise",
    "rotation",
    "elastic",
    "thin_plate_spline",
    "resized_crop",
    "flip",
]


def build(name: str, **settings: object) -> nn.Module:
    cls = AUGMENTATIONS[name]
    return cls(validate(cls.Settings, settings, f"augmentation '{name}'")).build()


def textured(n: int, height: int = 32, width: int = 32) -> torch.Tensor:
    """Images with structure at every position, so any warp, crop or colour change shows."""
    torch.manual_seed(99)
    return torch.rand(n, 3, height, width)


def test_entry_point_registers_all_augmentations() -> None:
    registry = default_registry()
    names = registry.names("augmentation")
    assert set(NAMES) <= set(names)
    for name in NAMES:
        assert registry.get("augmentation", name) is AUGMENTATIONS[name]
        assert registry.components["augmentation"][name].plugin == "kornia"
    assert sorted(AUGMENTATIONS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_builds_a_kornia_op_with_a_description(name: str) -> None:
    cls = AUGMENTATIONS[name]
    assert issubclass(cls, Augmentation)
    assert cls.description and "\n" not in cls.description
    assert isinstance(build(name), _AugmentationBase)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("height,width", [(32, 32), (40, 24)])
def test_keeps_shape_in_a_sequential(name: str, height: int, width: int) -> None:
    images = textured(4, height, width)
    out = compose([build(name, p=1.0)])(images)
    assert out.shape == images.shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_p1_changes_every_cutout_and_p0_is_identity(name: str) -> None:
    images = textured(4)
    torch.manual_seed(0)
    applied = compose([build(name, p=1.0)])(images)
    changed = (applied - images).flatten(1).abs().amax(1) > 1e-4
    assert changed.all(), f"{name} left {int((~changed).sum())} cutouts unchanged at p=1"
    torch.manual_seed(0)
    assert torch.equal(compose([build(name, p=0.0)])(images), images)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_the_input(name: str) -> None:
    images = textured(4).requires_grad_(True)
    torch.manual_seed(0)
    compose([build(name, p=1.0)])(images).square().sum().backward()
    assert images.grad is not None
    assert torch.isfinite(images.grad).all()
    assert (images.grad.flatten(1).abs().sum(1) > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name: str) -> None:
    images = textured(6)
    aug = compose([build(name)])
    torch.manual_seed(5)
    first = aug(images)
    torch.manual_seed(5)
    assert torch.equal(first, aug(images))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_settings_key_is_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="bogus"):
        validate(AUGMENTATIONS[name].Settings, {"bogus": 1}, f"augmentation '{name}'")
    with pytest.raises(ConfigError):
        validate(AUGMENTATIONS[name].Settings, {"p": 1.5}, f"augmentation '{name}'")


@pytest.mark.parametrize(
    "name,bad",
    [
        ("erasing", {"scale": [0.4, 0.1]}),
        ("resized_crop", {"ratio": [0.0, 1.0]}),
        ("affine", {"scale": [1.2, 0.8]}),
        ("elastic", {"kernel_size": 64}),
        ("color_jitter", {"hue": 0.7}),
    ],
)
def test_bad_values_are_rejected(name: str, bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        validate(AUGMENTATIONS[name].Settings, bad, f"augmentation '{name}'")


def test_ranges_accept_yaml_lists() -> None:
    settings = validate(Erasing.Settings, {"scale": [0.05, 0.2]}, "augmentation 'erasing'")
    assert settings.scale == (0.05, 0.2)


def test_compose_all_ops_in_one_sequential() -> None:
    images = textured(4).requires_grad_(True)
    aug = compose([build(name) for name in NAMES])
    assert isinstance(aug, AugmentationSequential)
    torch.manual_seed(3)
    out = aug(images)
    assert out.shape == images.shape
    out.mean().backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0


def test_compose_empty_is_identity_and_rejects_non_kornia_modules() -> None:
    assert isinstance(compose([]), nn.Identity)
    with pytest.raises(TypeError, match="kornia"):
        compose([nn.Identity()])


def test_resized_crop_follows_each_input_size_and_gates_per_cutout() -> None:
    op = SizeKeepingResizedCrop(scale=(0.2, 0.5), p=0.5)
    aug = compose([op])
    for height, width in [(32, 32), (24, 40)]:
        assert aug(textured(2, height, width)).shape == (2, 3, height, width)
    images = textured(32, 16, 16)
    torch.manual_seed(0)
    changed = (aug(images) - images).flatten(1).abs().amax(1) > 1e-4
    assert 0 < int(changed.sum()) < 32
