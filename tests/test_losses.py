"""The first-party losses: CLIP prompt guidance and the image-space regularisers."""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pixforge.components import Generator, PerceptorSlot, StepState  # noqa: E402
from pixforge.errors import ConfigError  # noqa: E402
from pixforge.outputs import tensor_to_pil  # noqa: E402
from pixforge.prompts import PromptSet, Weighted  # noqa: E402
from pixforge.testing import (  # noqa: E402
    DummyPerceptor,
    build_component,
    make_run_context,
    make_step_state,
    seeded,
    smooth_image,
    tiny_context,
)
from pixforge_clip import ClipPerceptor  # noqa: E402
from pixforge_losses import (  # noqa: E402
    ClipPromptLoss,
    InitImageLoss,
    SaturationLoss,
    SmoothnessLoss,
    SymmetryLoss,
)
from pixforge_losses.clip_prompt import noise_embedding, spherical_distance  # noqa: E402
from pixforge_pixel import PixelGenerator  # noqa: E402


def loss_of(cls, **settings):
    return build_component(cls, settings, tiny_context())


def pixel(width: int = 32, height: int = 32, **settings) -> PixelGenerator:
    return build_component(PixelGenerator, settings, tiny_context(width, height))


def state_for(image: torch.Tensor, generator: Generator | None = None, step: int = 0) -> StepState:
    return StepState(step=step, total_steps=10, image=image, embeddings={}, generator=generator)  # type: ignore[arg-type]


def prompt_grad(prompts: PromptSet, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, gradient on the generator's logits) for ``prompts`` with the dummy perceptor."""
    with seeded(seed):
        run = make_run_context(prompts=prompts)
    loss = loss_of(ClipPromptLoss)
    loss.prepare(run)
    value = loss(make_step_state(run))
    (grad,) = torch.autograd.grad(value, run.generator.parameters_to_optimize(), allow_unused=True)
    return value.detach(), grad if grad is not None else torch.zeros(1)


# -- clip_prompt ---------------------------------------------------------------------------------------


def test_spherical_distance_matches_vqgan_clip() -> None:
    a = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    b = F.normalize(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), dim=-1)
    d = spherical_distance(a, b)
    assert d.shape == (2, 2)
    assert d[0, 0] == 0
    assert torch.isclose(d[0, 1], torch.tensor(2 * (math.pi / 2) ** 2))  # opposite: chord 2
    assert torch.isclose(d[1, 0], torch.tensor(2 * math.asin(math.sqrt(2) / 2) ** 2))  # orthogonal


def test_loss_is_the_mean_distance_to_the_text() -> None:
    with seeded(0):
        run = make_run_context(prompts=PromptSet(texts=[Weighted("a red circle", 2.0)]))
    loss = loss_of(ClipPromptLoss)
    loss.prepare(run)
    state = make_step_state(run)
    target = run.perceptors[0].perceptor.encode_text(["a red circle"])
    expected = 2.0 * spherical_distance(state.embeddings["dummy"], target).mean()
    assert torch.isclose(loss(state), expected)


def test_clip_prompt_loss_falls_under_adam_with_the_tiny_clip() -> None:
    context = tiny_context(64, 64)
    with seeded(0):
        generator = build_component(PixelGenerator, {"grid": [16, 16]}, context)
        perceptor = build_component(ClipPerceptor, {}, context)
    run = make_run_context(generator, [perceptor], PromptSet(texts=[Weighted("a red circle")]), context=context)
    loss = loss_of(ClipPromptLoss)
    loss.prepare(run)
    optimiser = torch.optim.Adam(generator.parameters_to_optimize(), lr=0.1)
    values = []
    for step in range(8):
        value = loss(make_step_state(run, step))
        values.append(value.item())
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
    assert values[-1] < values[0]


def test_stop_ends_the_pull_once_close_enough() -> None:
    free_value, free_grad = prompt_grad(PromptSet(texts=[Weighted("a red circle")]))
    stopped_value, stopped_grad = prompt_grad(PromptSet(texts=[Weighted("a red circle", 1.0, 10.0)]))
    assert free_grad.abs().sum() > 0
    assert torch.equal(stopped_value, free_value)  # the value is still reported
    assert stopped_grad.abs().sum() == 0


def test_stop_above_the_distance_only() -> None:
    value, grad = prompt_grad(PromptSet(texts=[Weighted("a red circle", 1.0, 1e-4)]))
    assert grad.abs().sum() > 0  # still far away: keeps pulling


def test_negative_weight_flips_the_gradient() -> None:
    pos_value, pos_grad = prompt_grad(PromptSet(texts=[Weighted("a red circle", 1.0)]))
    neg_value, neg_grad = prompt_grad(PromptSet(texts=[Weighted("a red circle", -1.0)]))
    assert torch.allclose(neg_value, -pos_value)
    assert torch.allclose(neg_grad, -pos_grad)


@pytest.mark.parametrize("stop", [1e-4, -1e-4])  # pixforge's |stop| and VQGAN-CLIP's negative stop alike
def test_negative_weight_stops_once_far_enough(stop) -> None:
    _, grad = prompt_grad(PromptSet(texts=[Weighted("a red circle", -1.0, stop)]))
    assert grad.abs().sum() == 0


def test_negative_weight_without_stop_keeps_pushing() -> None:
    _, grad = prompt_grad(PromptSet(texts=[Weighted("a red circle", -1.0)]))
    assert grad.abs().sum() > 0


def test_perceptor_weights_and_reduce() -> None:
    context = tiny_context()
    with seeded(0):
        run = make_run_context(context=context, prompts=PromptSet(texts=[Weighted("a"), Weighted("b")]))
    slot = run.perceptors[0]
    run.perceptors = [
        PerceptorSlot("one", slot.perceptor, 1.0),
        PerceptorSlot("two", build_component(DummyPerceptor, {"seed": 1}, context), 0.5),
    ]
    state = make_step_state(run)
    total = loss_of(ClipPromptLoss)
    total.prepare(run)
    mean = loss_of(ClipPromptLoss, reduce="mean")
    mean.prepare(run)
    singles = []
    for keep in ("one", "two"):
        only = loss_of(ClipPromptLoss)
        only.prepare(make_run_context(run.generator, [s for s in run.perceptors if s.key == keep], run.prompts))
        singles.append(only(StepState(0, 10, state.image, {keep: state.embeddings[keep]}, run.generator)))
    assert torch.isclose(total(state), singles[0] + singles[1])  # each slot's loss carries its weight
    assert torch.isclose(singles[1], 0.5 * loss_for_weight_one(run, state))
    assert torch.isclose(mean(state), total(state) / 4)


def loss_for_weight_one(run, state) -> torch.Tensor:
    slot = PerceptorSlot("two", run.perceptors[1].perceptor, 1.0)
    loss = loss_of(ClipPromptLoss)
    loss.prepare(make_run_context(run.generator, [slot], run.prompts))
    return loss(StepState(0, 10, state.image, {"two": state.embeddings["two"]}, run.generator))


def test_noise_prompts_are_fixed_by_their_seed() -> None:
    first, again, other = noise_embedding(3, 64), noise_embedding(3, 64), noise_embedding(4, 64)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == (1, 64) and torch.isclose(first.norm(), torch.tensor(1.0))


def test_noise_prompt_targets_and_the_render_rng() -> None:
    with seeded(0):
        run = make_run_context(prompts=PromptSet(noise=[Weighted("42", 1.0)]))
    loss = loss_of(ClipPromptLoss)
    state = torch.get_rng_state()
    loss.prepare(run)
    assert torch.equal(torch.get_rng_state(), state)
    (weight, targets) = loss.targets["dummy"]
    assert torch.allclose(targets.embeddings, noise_embedding(42, 16))


def test_image_prompts_go_through_the_render_cutouts_and_are_averaged(tmp_path) -> None:
    path = tmp_path / "prompt.png"
    tensor_to_pil(smooth_image(48, 32)).save(path)
    with seeded(0):
        run = make_run_context(prompts=PromptSet(images=[Weighted(str(path), 1.0)]))
    seen = []
    original = run.embed_image

    def spy(slot, image):
        seen.append(image.shape)
        return original(slot, image)

    run.embed_image = spy
    loss = loss_of(ClipPromptLoss)
    loss.prepare(run)
    assert seen == [(1, 3, 32, 48)]
    expected = F.normalize(original(run.perceptors[0], smooth_image(48, 32)).mean(0, keepdim=True), dim=-1)
    assert torch.allclose(loss.targets["dummy"][1].embeddings, expected, atol=1e-2)


def test_target_images_use_one_centre_crop(tmp_path) -> None:
    path = tmp_path / "target.png"
    picture = torch.zeros(1, 3, 32, 64)
    picture[..., 16:48] = 1.0  # a white centre square between black sides
    tensor_to_pil(picture).save(path)
    with seeded(0):
        run = make_run_context(prompts=PromptSet(targets=[Weighted(str(path), 1.0)]))
    run.embed_image = lambda slot, image: pytest.fail("targets must not go through cutouts")
    loss = loss_of(ClipPromptLoss)
    loss.prepare(run)
    perceptor = run.perceptors[0].perceptor
    expected = perceptor.encode_image(torch.ones(1, 3, perceptor.input_size, perceptor.input_size))
    assert torch.allclose(loss.targets["dummy"][1].embeddings, expected, atol=1e-5)


def test_unreadable_image_prompt_names_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"no png here")
    with seeded(0):
        run = make_run_context(prompts=PromptSet(images=[Weighted(str(bad), 1.0)]))
    with pytest.raises(ConfigError, match="broken.png"):
        loss_of(ClipPromptLoss).prepare(run)


def test_no_prompts_no_loss() -> None:
    with seeded(0):
        run = make_run_context(prompts=PromptSet())
    loss = loss_of(ClipPromptLoss)
    loss.prepare(run)
    assert loss(make_step_state(run)) == 0


def test_text_embeddings_are_computed_once_per_render() -> None:
    context = tiny_context(64, 64)
    with seeded(0):
        perceptor = build_component(ClipPerceptor, {}, context)
        run = make_run_context(perceptors=[perceptor], context=context, prompts=PromptSet(texts=[Weighted("x")]))
    loss = loss_of(ClipPromptLoss)
    loss.prepare(run)
    assert list(perceptor._texts) == ["x"]  # noqa: SLF001
    for step in range(3):
        loss(make_step_state(run, step))
    assert list(perceptor._texts) == ["x"]  # noqa: SLF001


# -- smoothness, saturation, symmetry --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_smoothness_of_a_constant_image_is_zero(kind) -> None:
    assert loss_of(SmoothnessLoss, kind=kind)(state_for(torch.full((1, 3, 16, 16), 0.3))) == 0


def test_smoothness_values() -> None:
    image = torch.zeros(1, 3, 4, 4)
    image[..., :, 2:] = 0.5  # one vertical edge of height 0.5
    # across: 1 of 3 column steps jumps by 0.5; down: none
    assert torch.isclose(loss_of(SmoothnessLoss, kind="l1")(state_for(image)), torch.tensor(0.5 / 3))
    assert torch.isclose(loss_of(SmoothnessLoss, kind="l2")(state_for(image)), torch.tensor(0.25 / 3))


def test_saturation_is_negated_colourfulness() -> None:
    saturation = loss_of(SaturationLoss)
    grey = saturation(state_for(torch.full((1, 3, 8, 8), 0.5)))
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0
    assert abs(grey.item()) < 1e-3
    assert saturation(state_for(red)) < -0.3  # 0.3 * sqrt(1 + 0.25)


def test_positive_saturation_weight_saturates_and_negative_greys() -> None:
    for sign in (1.0, -1.0):
        with seeded(0):
            generator = pixel(16, 16, grid=(8, 8))
        loss = loss_of(SaturationLoss)
        optimiser = torch.optim.Adam(generator.parameters_to_optimize(), lr=0.1)
        start = loss(state_for(generator())).item()
        for _ in range(10):
            value = sign * loss(state_for(generator()))
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
        end = loss(state_for(generator())).item()
        assert (end < start) if sign > 0 else (end > start)


@pytest.mark.parametrize(("axis", "dim"), [("horizontal", -1), ("vertical", -2)])
def test_symmetry_of_a_mirrored_image_is_zero(axis, dim) -> None:
    half = torch.rand(1, 3, 8, 8)
    image = torch.cat([half, half.flip(dim)], dim=dim)
    loss = loss_of(SymmetryLoss, axis=axis)
    assert loss(state_for(image)) == 0
    assert loss(state_for(torch.rand(1, 3, 16, 16))) > 0


def test_horizontal_symmetry_is_left_right() -> None:
    image = torch.zeros(1, 3, 8, 8)
    image[..., :4, :] = 1.0  # top half white: mirrored left-right it is unchanged
    assert loss_of(SymmetryLoss, axis="horizontal")(state_for(image)) == 0
    assert loss_of(SymmetryLoss, axis="vertical")(state_for(image)) > 0


def init_run(generator: Generator, init_image: torch.Tensor | None):
    if init_image is not None:
        generator.init(init_image)
    return make_run_context(generator=generator, init_image=init_image, prompts=PromptSet())


def test_init_image_loss_is_zero_at_the_start() -> None:
    start = smooth_image(8, 8)
    for space in ("pixels", "latent"):
        generator = pixel(8, 8, grid=(8, 8))
        run = init_run(generator, start)
        loss = loss_of(InitImageLoss, space=space)
        loss.prepare(run)
        assert loss(make_step_state(run)).item() < 1e-10


def test_init_image_loss_grows_as_the_image_moves() -> None:
    generator = pixel(8, 8, grid=(8, 8))
    run = init_run(generator, smooth_image(8, 8))
    pixels, latent = loss_of(InitImageLoss), loss_of(InitImageLoss, space="latent")
    pixels.prepare(run)
    latent.prepare(run)
    with torch.no_grad():
        generator.logits.add_(1.0)
    state = make_step_state(run)
    assert pixels(state) > 0.001 and torch.isclose(latent(state), torch.tensor(1.0))


def test_init_image_is_resized_to_the_render() -> None:
    generator = pixel(16, 16, grid=(16, 16), init="solid", color=(0.5, 0.5, 0.5))
    run = make_run_context(generator=generator, init_image=torch.full((1, 3, 4, 4), 0.5), prompts=PromptSet())
    loss = loss_of(InitImageLoss)
    loss.prepare(run)
    assert loss(make_step_state(run)).item() < 1e-10


def test_no_init_image_no_loss() -> None:
    for space in ("pixels", "latent"):
        run = init_run(pixel(), None)
        loss = loss_of(InitImageLoss, space=space)
        loss.prepare(run)
        assert loss(make_step_state(run)) == 0


def test_target_start_pulls_to_the_picture_the_render_started_from() -> None:
    from dataclasses import replace

    generator = pixel(8, 8, grid=(8, 8))
    start = smooth_image(8, 8)
    generator.init(start)
    run = replace(make_run_context(generator=generator, prompts=PromptSet()), start=start)
    to_start, to_init = loss_of(InitImageLoss, target="start"), loss_of(InitImageLoss)
    to_start.prepare(run)
    to_init.prepare(run)
    assert to_start(make_step_state(run)).item() < 1e-10
    with torch.no_grad():
        generator.logits.add_(1.0)
    assert to_start(make_step_state(run)) > 0.001
    assert to_init(make_step_state(run)) == 0  # no init image: the start alone is not its target
    user = replace(run, start=None, init_image=start)
    to_start.prepare(user)
    assert to_start(make_step_state(user)) == 0  # a user's init image is not a start


def test_decay_fades_the_pull() -> None:
    generator = pixel(8, 8, grid=(8, 8))
    run = init_run(generator, smooth_image(8, 8))
    loss = loss_of(InitImageLoss, decay=0.1)
    loss.prepare(run)
    with torch.no_grad():
        generator.logits.add_(1.0)
    assert torch.isclose(loss(make_step_state(run, step=10)), loss(make_step_state(run, step=0)) / 2)


def test_latent_space_needs_a_generator_latent() -> None:
    class Flat(Generator):
        description = "no latent"

        def init(self, image):
            pass

        def forward(self):
            return torch.zeros(1, 3, self.height, self.width)

    generator = Flat(Flat.Settings(), tiny_context())
    run = make_run_context(generator=generator, init_image=smooth_image(), prompts=PromptSet())
    with pytest.raises(ConfigError, match="space 'latent' needs a generator with a latent"):
        loss_of(InitImageLoss, space="latent").prepare(run)


@pytest.mark.parametrize(
    ("cls", "settings", "needle"),
    [
        (SmoothnessLoss, {"kind": "l3"}, "kind"),
        (SymmetryLoss, {"axis": "diagonal"}, "axis"),
        (InitImageLoss, {"decay": -1}, "decay"),
        (ClipPromptLoss, {"reduce": "max"}, "reduce"),
        (SaturationLoss, {"amount": 1}, "amount"),
    ],
)
def test_bad_loss_settings(cls, settings, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        build_component(cls, settings)


def test_registered_names() -> None:
    from pixforge.plugins import default_registry

    registry = default_registry()
    assert registry.get("loss", "clip_prompt") is ClipPromptLoss
    assert registry.get("loss", "init_image") is InitImageLoss
