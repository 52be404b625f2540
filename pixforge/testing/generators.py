"""The generator contract: size, range, gradients, seeded init and search, from_image, extra files and alpha.

This module imports pytest, so it is for test code only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import pytest
import torch

from ..canvas import round_to_multiple
from ..components import BuildContext, Generator
from ..run_folder import extra_file_name
from ..seeding import seeded
from .base import ComponentContract
from .dummies import build_component, smooth_image, tiny_context


class GeneratorContract(ComponentContract):
    """A generator renders ``[B, 3, H, W]`` in 0..1 at the context's size, with gradients to its parameters."""

    #: canvas (width, height); not square, so swapped sides show; rounded to ``size_multiple`` as the pipeline does
    canvas: ClassVar[tuple[int, int]] = (40, 24)
    #: largest mean absolute error allowed when ``init(image)`` reproduces a smooth picture; None skips
    reproduce_tolerance: ClassVar[float | None] = 0.1

    def _context(self, cls: type) -> BuildContext:
        multiple = max(1, int(getattr(cls, "size_multiple", 1)))
        width, height = (round_to_multiple(side, multiple) for side in self.canvas)
        return tiny_context(width, height)

    def _build(self, cls: type, settings: dict[str, Any], seed: int = 0) -> Generator:
        with seeded(seed):
            generator = build_component(cls, settings, self._context(cls))
            generator.init(None)
        return generator

    def test_shape_and_range(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        generator = self._build(contract_component, contract_settings)
        image = generator()
        context = self._context(contract_component)
        assert image.dim() == 4 and image.shape[1] == 3
        assert tuple(image.shape[-2:]) == (context.height, context.width)
        assert image.is_floating_point() and torch.isfinite(image).all()
        assert image.min() >= 0 and image.max() <= 1

    def test_range_holds_after_large_steps(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        generator = self._build(contract_component, contract_settings)
        optimiser = torch.optim.Adam(generator.parameters_to_optimize(), lr=1.0)
        for _ in range(3):
            optimiser.zero_grad()
            (-(generator() - 0.5).abs().mean()).backward()
            optimiser.step()
            with torch.no_grad():
                generator.after_step()
        with torch.no_grad():
            image = generator()
        assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1

    def test_gradients_reach_parameters(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        generator = self._build(contract_component, contract_settings)
        params = generator.parameters_to_optimize()
        assert params, "parameters_to_optimize() is empty: nothing to optimise"
        assert all(p.requires_grad for p in params)
        (generator() * torch.linspace(0, 1, 3).view(1, 3, 1, 1)).mean().backward()
        assert all(p.grad is not None for p in params), "some optimised parameters get no gradient"
        assert any(p.grad.abs().sum() > 0 for p in params)  # type: ignore[union-attr]

    def test_deterministic_under_seed(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        with torch.no_grad():
            first = self._build(contract_component, contract_settings, seed=1234)()
            second = self._build(contract_component, contract_settings, seed=1234)()
        assert torch.equal(first, second)

    def test_propose_is_seeded_and_keeps_the_picture_valid(
        self, contract_component: type, contract_settings: dict[str, Any]
    ) -> None:
        def redness(pictures: torch.Tensor) -> torch.Tensor:
            assert pictures.dim() == 4 and pictures.shape[1] == 3, "propose must score [M, 3, H, W] pictures"
            return pictures[:, 0].mean((1, 2)) - pictures[:, 1:].mean((1, 2, 3))

        pictures = []
        for _ in range(2):
            generator = self._build(contract_component, contract_settings, seed=7)
            with seeded(8), torch.no_grad():
                generator.propose(redness)
                pictures.append(generator())
        assert torch.equal(pictures[0], pictures[1])
        assert torch.isfinite(pictures[0]).all() and pictures[0].min() >= 0 and pictures[0].max() <= 1

    def test_init_image_is_reproduced(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        generator = self._build(contract_component, contract_settings)
        target = smooth_image(generator.width, generator.height)
        generator.init(target)
        with torch.no_grad():
            image = generator()
        assert image.shape[-2:] == target.shape[-2:]
        if self.reproduce_tolerance is not None and contract_component.reproduces_images:
            error = (image[:1] - target).abs().mean().item()
            assert error < self.reproduce_tolerance, f"init(image) gives mean error {error:.3f}"

    def test_from_image_starts_near_a_picture_of_another_size(
        self, contract_component: type, contract_settings: dict[str, Any]
    ) -> None:
        generator = self._build(contract_component, contract_settings)
        target = smooth_image(generator.width, generator.height)
        bigger = torch.nn.functional.interpolate(target, scale_factor=2.0, mode="bilinear", align_corners=False)
        with torch.no_grad():
            before = (generator()[:1] - target).pow(2).mean().item()
        generator.from_image(bigger, seed=3)
        with torch.no_grad():
            image = generator()
        assert tuple(image.shape[-2:]) == (generator.height, generator.width)
        after = (image[:1] - target).pow(2).mean().item()
        if self.reproduce_tolerance is not None and contract_component.reproduces_images:
            error = (image[:1] - target).abs().mean().item()
            assert error < self.reproduce_tolerance, f"from_image(image) gives mean error {error:.3f}"
        else:
            assert after <= before, f"from_image moved away from the picture (MSE {before:.4f} → {after:.4f})"

    def test_from_image_is_deterministic(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        images = []
        for _ in range(2):
            generator = self._build(contract_component, contract_settings, seed=5)
            with seeded(6):
                generator.from_image(smooth_image(generator.width, generator.height), seed=7)
            with torch.no_grad():
                images.append(generator())
        assert torch.equal(images[0], images[1])

    def test_extra_files_are_named_final_ext(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        files = self._build(contract_component, contract_settings).extra_files()
        assert isinstance(files, dict)
        for name, data in files.items():
            assert extra_file_name(name) == name and isinstance(data, bytes) and data

    def test_alpha_channel_when_transparent(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        """With ``supports_alpha``, built ``transparent`` it renders ``[B, 4, H, W]``: straight colour, then an alpha
        in 0..1 that its parameters move; built opaque, three channels."""
        if not contract_component.supports_alpha:
            pytest.skip(f"{contract_component.__name__} has no alpha channel (supports_alpha is False)")
        context = replace(self._context(contract_component), transparent=True)
        with seeded(0):
            generator = build_component(contract_component, contract_settings, context)
            generator.init(None)
        image = generator()
        assert image.dim() == 4 and image.shape[1] == 4, "a transparent generator renders [B, 4, H, W]"
        assert tuple(image.shape[-2:]) == (context.height, context.width)
        assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
        image[:, 3].mean().backward()
        grads = [p.grad for p in generator.parameters_to_optimize() if p.grad is not None]
        assert any(g.abs().sum() > 0 for g in grads), "no optimised parameter moves the alpha channel"
        assert self._build(contract_component, contract_settings)().shape[1] == 3

    def test_latent_is_tensor_or_none(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        latent = self._build(contract_component, contract_settings).latent()
        assert latent is None or isinstance(latent, torch.Tensor)
