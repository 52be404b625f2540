"""The contract tests, one base class per component kind; a plugin's test suite subclasses them (the shared
base is ``pixforge.testing.base``, the generator's contract ``pixforge.testing.generators``).

This module imports pytest, so it is for test code only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from ..augment import compose
from ..components import Filter, Loss, Perceptor, RunContext, RunInfo
from ..kinds import KINDS
from ..seeding import seeded
from .base import UNKNOWN_KEY, ComponentContract  # noqa: F401  (re-exported)
from .dummies import build_component, make_run_context, make_step_state, smooth_image, tiny_context
from .generators import GeneratorContract  # noqa: F401  (re-exported)


class PerceptorContract(ComponentContract):
    """A perceptor is frozen; it embeds images (differentiably) and texts into one unit-length space."""

    def _build(self, cls: type, settings: dict[str, Any], seed: int = 0) -> Perceptor:
        with seeded(seed):
            return build_component(cls, settings, tiny_context())

    def _images(self, perceptor: Perceptor, n: int = 3) -> torch.Tensor:
        size = perceptor.input_size
        with seeded(7):
            return torch.rand(n, 3, size, size)

    def test_input_size(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        size = self._build(contract_component, contract_settings).input_size
        assert isinstance(size, int) and size > 0

    def test_embed_dim_device_and_logit_scale(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        perceptor = self._build(contract_component, contract_settings)
        assert isinstance(perceptor.embed_dim, int), "set embed_dim (the length of the embeddings) when built"
        assert perceptor.encode_text(["a red circle"]).shape[-1] == perceptor.embed_dim
        assert perceptor.encode_image(self._images(perceptor, 1)).shape[-1] == perceptor.embed_dim
        assert isinstance(perceptor.device, torch.device)
        assert perceptor.logit_scale is None or perceptor.logit_scale > 0
        assert perceptor.logit_bias is None or isinstance(perceptor.logit_bias, float)

    def test_frozen(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        perceptor = self._build(contract_component, contract_settings)
        assert not any(p.requires_grad for p in perceptor.parameters())

    def test_image_embeddings(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        perceptor = self._build(contract_component, contract_settings)
        images = self._images(perceptor).requires_grad_(True)
        embeddings = perceptor.encode_image(images)
        assert embeddings.dim() == 2 and embeddings.shape[0] == images.shape[0]
        assert torch.allclose(embeddings.norm(dim=-1), torch.ones(len(images)), atol=1e-3)
        embeddings.sum().backward()
        assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0

    def test_text_embeddings(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        perceptor = self._build(contract_component, contract_settings)
        texts = ["a red circle", "a blue square"]
        embeddings = perceptor.encode_text(texts)
        image_dim = perceptor.encode_image(self._images(perceptor, 1)).shape[-1]
        assert embeddings.shape == (2, image_dim)
        assert torch.allclose(embeddings.norm(dim=-1), torch.ones(2), atol=1e-3)
        assert torch.allclose(perceptor.encode_text(texts[::-1]), embeddings.flip(0), atol=1e-5)

    def test_deterministic_under_seed(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        first = self._build(contract_component, contract_settings, seed=3)
        second = self._build(contract_component, contract_settings, seed=3)
        images = self._images(first)
        with torch.no_grad():
            assert torch.equal(first.encode_image(images), second.encode_image(images))
        assert torch.equal(first.encode_text(["a cat"]), second.encode_text(["a cat"]))


class LossContract(ComponentContract):
    """A loss prepares once per render and returns a finite scalar each step, with a usable gradient."""

    def _setup(self, cls: type, settings: dict[str, Any], seed: int = 0) -> tuple[Loss, RunContext]:
        with seeded(seed):
            context = tiny_context()
            run = make_run_context(init_image=smooth_image(context.width, context.height), context=context)
            loss = build_component(cls, settings, context)
            loss.prepare(run)
        return loss, run

    def test_finite_scalar(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        loss, run = self._setup(contract_component, contract_settings)
        for step in range(3):
            value = loss(make_step_state(run, step))
            assert isinstance(value, torch.Tensor) and value.dim() == 0
            assert value.is_floating_point() and torch.isfinite(value)

    def test_backward(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        loss, run = self._setup(contract_component, contract_settings)
        value = loss(make_step_state(run))
        if value.requires_grad:
            value.backward()
            for p in run.generator.parameters_to_optimize():
                assert p.grad is None or torch.isfinite(p.grad).all()

    def test_deterministic_under_seed(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        values = []
        for _ in range(2):
            loss, run = self._setup(contract_component, contract_settings, seed=11)
            with seeded(12):
                values.append(loss(make_step_state(run)).detach())
        assert torch.equal(values[0], values[1])


class AugmentationContract(ComponentContract):
    """An augmentation builds a kornia op that keeps the batch shape, lets gradients through and obeys ``p``."""

    def _op(self, cls: type, settings: dict[str, Any], **override: Any) -> nn.Module:
        return build_component(cls, {**settings, **override}).build()

    @staticmethod
    def _batch() -> torch.Tensor:
        with seeded(5):
            return torch.rand(4, 3, 32, 32)

    def _has_p(self, cls: type) -> bool:
        return "p" in cls.Settings.model_fields

    def test_builds_a_composable_module(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        op = self._op(contract_component, contract_settings)
        assert isinstance(op, nn.Module)
        compose([op])  # the engine chains every op into one kornia AugmentationSequential

    def test_shape_kept(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        op = self._op(contract_component, contract_settings)
        batch = self._batch()
        with seeded(0):
            out = op(batch)
        assert out.shape == batch.shape and torch.isfinite(out).all()

    def test_p0_is_identity(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        if not self._has_p(contract_component):
            pytest.skip("the op has no 'p' setting")
        op = self._op(contract_component, contract_settings, p=0.0)
        batch = self._batch()
        with seeded(0):
            out = op(batch)
        assert torch.allclose(out, batch, atol=1e-6)

    def test_gradient_flows(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        override = {"p": 1.0} if self._has_p(contract_component) else {}
        op = self._op(contract_component, contract_settings, **override)
        batch = self._batch().requires_grad_(True)
        with seeded(0):
            out = op(batch)
        (out * torch.linspace(0.5, 1.5, 3).view(1, 3, 1, 1)).sum().backward()
        assert batch.grad is not None and torch.isfinite(batch.grad).all() and batch.grad.abs().sum() > 0

    def test_deterministic_under_seed(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        outs = []
        for _ in range(2):
            op = self._op(contract_component, contract_settings)
            with seeded(9):
                outs.append(op(self._batch()))
        assert torch.equal(outs[0], outs[1])


class FilterContract(ComponentContract):
    """A filter keeps the batch's shape and 0..1 range, lets gradients through, and adds a finite loss or none."""

    #: canvas (width, height) of the test pictures; not square, so swapped sides show
    canvas: ClassVar[tuple[int, int]] = (40, 24)

    def _filter(self, cls: type, settings: dict[str, Any]) -> Filter:
        return build_component(cls, settings, tiny_context(*self.canvas))

    def _batch(self) -> torch.Tensor:
        with seeded(4):
            noise = torch.rand(2, 3, self.canvas[1], self.canvas[0]) * 0.2 - 0.1
        return (smooth_image(*self.canvas).expand(2, -1, -1, -1) + noise).clamp(0, 1)

    def test_flags_are_bools(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        assert isinstance(contract_component.view_only, bool) and isinstance(contract_component.seamless, bool)

    def test_cell_is_one_cell_of_the_picture(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        """``cell_for``: None, or the repeats and settings (of the filter's own kind) that draw one cell alone,
        which repeat no further; the filter's picture is then that many repeats of one cell."""
        with seeded(0):
            built = self._filter(contract_component, contract_settings)
        cell = contract_component.cell_for(built.settings)
        if cell is None:
            return
        repeats, alone = cell
        assert isinstance(repeats, int) and repeats > 1 and isinstance(alone, contract_component.Settings)
        assert contract_component.cell_for(alone) is None
        width, height = self.canvas
        if width % repeats or height % repeats:
            return
        with seeded(0):
            out = built(self._batch())
        first = out[..., : height // repeats, : width // repeats]
        assert torch.allclose(out, first.repeat(1, 1, repeats, repeats), atol=1e-6)

    def test_shape_and_range(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        batch = self._batch()
        with seeded(0):
            out = self._filter(contract_component, contract_settings)(batch)
        assert out.shape == batch.shape and out.is_floating_point() and torch.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1

    def test_gradient_flows(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        batch = self._batch().requires_grad_(True)
        with seeded(0):
            out = self._filter(contract_component, contract_settings)(batch)
        (out * torch.linspace(0.5, 1.5, 3).view(1, 3, 1, 1)).sum().backward()
        assert batch.grad is not None and torch.isfinite(batch.grad).all() and batch.grad.abs().sum() > 0

    def test_loss_is_a_finite_scalar_or_none(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        batch = self._batch().requires_grad_(True)
        flt = self._filter(contract_component, contract_settings)
        with seeded(0):
            out = flt(batch)
        terms = [flt.loss(batch, out) for _ in range(2)]
        assert (terms[0] is None) == (terms[1] is None), "loss() must return None always or never"
        if terms[0] is not None:
            assert isinstance(terms[0], torch.Tensor) and terms[0].dim() == 0 and torch.isfinite(terms[0])
            if terms[0].requires_grad:
                terms[0].backward()
                assert batch.grad is not None and torch.isfinite(batch.grad).all()

    def test_deterministic_under_seed(self, contract_component: type, contract_settings: dict[str, Any]) -> None:
        outs = []
        for _ in range(2):
            flt = self._filter(contract_component, contract_settings)
            with seeded(9):
                outs.append(flt(self._batch()))
        assert torch.equal(outs[0], outs[1])


class ObserverContract(ComponentContract):
    """An observer survives a whole run (start, steps, end) and never changes the image it is shown."""

    def test_lifecycle_leaves_image_alone(
        self, contract_component: type, contract_settings: dict[str, Any], tmp_path: Path
    ) -> None:
        observer = build_component(contract_component, contract_settings)
        info = RunInfo(run_dir=tmp_path, prompt="a red circle", settings={}, total_steps=2)
        with seeded(0):
            run = make_run_context(total_steps=2)
        observer.on_start(info)
        for step in range(2):
            with torch.no_grad():
                state = make_step_state(run, step)
            state.losses, state.loss = {"clip_prompt": 0.5}, 0.5
            before = state.image.clone()
            observer.on_step(state)
            assert torch.equal(state.image, before)
        final = before[:1].clone()
        observer.on_end(info, final)
        assert torch.equal(final, before[:1])


#: the contract for each component kind, as named in the registry (``pixforge.kinds`` names the class)
CONTRACTS: dict[str, type[ComponentContract]] = {kind.name: globals()[kind.contract] for kind in KINDS}
