"""Region prompts: masks, cutout overlap, the clip_prompt and init_image losses with regions, the CLI."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from PIL import Image

from pixforge import Pipeline, resolve_config
from pixforge.cli import main
from pixforge.cutouts import CutoutSettings, make_cutouts, make_cutouts_and_boxes
from pixforge.errors import ConfigError
from pixforge.prompts import PromptSet, Weighted
from pixforge.regions import (
    MASK_NAMES,
    Region,
    box_overlap,
    build_regions,
    check_mask_spec,
    load_mask,
    named_mask,
    outside_regions,
    parse_region,
)
from pixforge.testing import DummyGenerator, build_component, make_run_context, make_step_state, tiny_context
from pixforge_losses.clip_prompt import ClipPromptLoss
from pixforge_losses.init_image import InitImageLoss

TINY = ["cutouts.count=4", "cutouts.min_size=0.3", "cutouts.mode=random"]


# -- masks -----------------------------------------------------------------------------------------


def test_named_masks_cover_their_part() -> None:
    left, right = named_mask("left", 8, 12), named_mask("right", 8, 12)
    assert left[:, :6].eq(1).all() and left[:, 6:].eq(0).all() and torch.equal(left + right, torch.ones(8, 12))
    top, bottom = named_mask("top", 8, 12), named_mask("bottom", 8, 12)
    assert top[:4].eq(1).all() and top[4:].eq(0).all() and torch.equal(top + bottom, torch.ones(8, 12))
    centre, border = named_mask("centre", 8, 8), named_mask("border", 8, 8)
    assert centre.sum() == 16 and centre[2:6, 2:6].eq(1).all() and torch.equal(centre + border, torch.ones(8, 8))


@pytest.mark.parametrize("given, canonical", [("left", "left"), ("CENTER", "centre"), (" Border ", "border"),
                                              ("masks/sky.PNG", "masks/sky.PNG")])
def test_mask_spellings(given: str, canonical: str) -> None:
    assert check_mask_spec(given) == canonical


def test_unknown_mask_names_the_value_and_what_is_valid() -> None:
    with pytest.raises(ValueError) as info:
        check_mask_spec("lft")
    message = str(info.value)
    assert "'lft'" in message and all(name in message for name in MASK_NAMES) and ".png" in message


def test_png_mask_is_resized_to_the_canvas(tmp_path) -> None:
    picture = Image.new("L", (16, 8), 0)
    picture.paste(255, (0, 0, 8, 8))  # white left half
    picture.save(tmp_path / "half.png")
    mask = load_mask(str(tmp_path / "half.png"), 32, 32)
    assert mask.shape == (32, 32) and 0 <= mask.min() and mask.max() <= 1
    assert mask[:, :14].min() > 0.9 and mask[:, 18:].max() < 0.1


def test_png_mask_problems_are_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"region mask '.*missing\.png': no such file"):
        load_mask(str(tmp_path / "missing.png"), 16, 16)
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(ConfigError, match=r"region mask '.*text\.png': cannot read it as an image"):
        load_mask(str(tmp_path / "text.png"), 16, 16)
    Image.new("L", (8, 8), 0).save(tmp_path / "black.png")
    with pytest.raises(ConfigError, match="has no white pixel"):
        load_mask(str(tmp_path / "black.png"), 16, 16)


def test_outside_regions_is_the_complement_of_their_union() -> None:
    regions = [Region("a", 1.0, -math.inf, named_mask(name, 8, 8)) for name in ("left", "top")]
    outside = outside_regions(regions)
    assert outside is not None and outside.sum() == 16 and outside[4:, 4:].eq(1).all()
    assert outside_regions([]) is None


# -- the CLI syntax and the settings ----------------------------------------------------------------


def test_parse_region() -> None:
    assert parse_region("left=a red circle:2") == {"mask": "left", "text": "a red circle", "weight": 2.0}
    assert parse_region("top=sky:1:0.8") == {"mask": "top", "text": "sky", "weight": 1.0, "stop": 0.8}
    assert parse_region("centre=style: watercolor") == {"mask": "centre", "text": "style: watercolor", "weight": 1.0}


@pytest.mark.parametrize("text, needle", [
    ("a red circle", "expected MASK=TEXT"),
    ("lft=red", "mask 'lft' is not valid"),
    ("left=", "empty prompt"),
])
def test_bad_region_text(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_region(text)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline()


def test_regions_in_settings_both_spellings(pipe: Pipeline) -> None:
    config = resolve_config(pipe.registry, "default", values={"prompts.regions": [
        "left=red:2", {"text": "blue", "mask": "Right", "stop": 0.5}]})
    regions = config.prompts.regions
    assert [(r.mask, r.text, r.weight, r.stop) for r in regions] == [("left", "red", 2.0, None), ("right", "blue", 1.0, 0.5)]


@pytest.mark.parametrize("region, needle", [
    ({"text": "red", "mask": "lft"}, "mask 'lft' is not valid; use left, right"),
    ({"text": "red", "mask": "left", "weight": "heavy"}, "bad value 'heavy' for 'prompts.regions.0.weight'"),
    ({"text": "red", "mask": "left", "weight": float("nan")}, "bad value nan for 'prompts.regions.0.weight'"),
    ({"text": "red"}, "missing required key 'prompts.regions.0.mask'"),
    ({"text": "red", "mask": "left", "colour": 1}, "unknown key 'prompts.regions.0.colour'"),
])
def test_bad_region_settings_are_one_line(pipe: Pipeline, region: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        resolve_config(pipe.registry, "default", values={"prompts.regions": [region]})
    assert "\n" not in str(info.value)


# -- cutout boxes and overlap -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["random", "pooled", "mixed"])
def test_cutout_boxes_match_the_cutouts(mode: str) -> None:
    image = torch.rand(2, 3, 24, 32)
    settings = CutoutSettings(count=5, mode=mode, min_size=0.3)
    torch.manual_seed(0)
    cutouts, boxes = make_cutouts_and_boxes(image, 8, settings)
    torch.manual_seed(0)
    assert torch.equal(cutouts, make_cutouts(image, 8, settings))
    assert boxes.shape == (10, 5) and boxes[:5, 0].eq(0).all() and boxes[5:, 0].eq(1).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 32).all() and (boxes[:, 4] <= 24).all()
    if mode == "pooled":
        assert boxes[:, 1:].tolist() == [[0, 0, 32, 24]] * 10


def test_box_overlap_is_the_share_of_the_box_inside() -> None:
    masks = torch.stack([named_mask("left", 32, 32), named_mask("right", 32, 32)])
    boxes = torch.tensor([[0, 0, 0, 16, 16], [0, 16, 8, 32, 24], [0, 0, 0, 32, 32], [1, 8, 0, 24, 16]],
                         dtype=torch.float64)
    overlap = box_overlap(masks, boxes)
    assert torch.allclose(overlap, torch.tensor([[1, 0], [0, 1], [0.5, 0.5], [0.5, 0.5]]), atol=0.02)


# -- the losses -------------------------------------------------------------------------------------


def _region_run(masks: dict[str, str], init: torch.Tensor | None = None):
    context = tiny_context(32, 32)
    generator = build_component(DummyGenerator, {}, context)
    regions = [Region(text, 1.0, -math.inf, named_mask(mask, 32, 32)) for text, mask in masks.items()]
    return make_run_context(generator=generator, prompts=PromptSet(regions=regions), init_image=init, context=context)


def test_a_region_pulls_only_the_cutouts_over_it() -> None:
    run = _region_run({"a red circle": "left"})
    loss = ClipPromptLoss(ClipPromptLoss.Settings(), tiny_context())
    loss.prepare(run)
    state = make_step_state(run)
    state.embeddings = {k: v.detach().requires_grad_(True) for k, v in state.embeddings.items()}
    state.boxes = {k: torch.tensor([[0, 0, 0, 16, 32], [0, 16, 0, 32, 32]], dtype=torch.float64)
                   for k in state.embeddings}
    value = loss(state)
    value.backward()
    grad = state.embeddings["dummy"].grad
    assert value > 0 and grad[0].abs().sum() > 0 and grad[1].abs().sum() == 0


def test_region_loss_is_the_prompt_loss_when_the_mask_covers_everything() -> None:
    run = _region_run({"a red circle": "left"})
    run.prompts.regions[:] = [Region("a red circle", 1.0, -math.inf, torch.ones(32, 32))]
    plain = make_run_context(generator=run.generator, prompts=PromptSet(texts=[Weighted("a red circle")]))
    region_loss, text_loss = (ClipPromptLoss(ClipPromptLoss.Settings(), tiny_context()) for _ in range(2))
    region_loss.prepare(run)
    text_loss.prepare(plain)
    state = make_step_state(run)
    assert torch.allclose(region_loss(state), text_loss(state), atol=1e-6)


def test_init_image_keeps_what_is_outside_the_regions() -> None:
    init = torch.full((1, 3, 32, 32), 0.5)
    run = _region_run({"a red circle": "left"}, init=init)
    state = make_step_state(run)
    for mask, left_grad in (("outside_regions", False), ("all", True)):
        loss = InitImageLoss(InitImageLoss.Settings(mask=mask), tiny_context())
        loss.prepare(run)
        run.generator.zero_grad()
        image = run.generator()
        state.image = image
        loss(state).backward()
        grad = run.generator.logits.grad
        assert grad[..., 16:].abs().sum() > 0
        assert (grad[..., :16].abs().sum() > 0) == left_grad


# -- end to end -------------------------------------------------------------------------------------


def test_render_with_regions_from_python(pipe: Pipeline, tmp_path) -> None:
    result = pipe.render("", preset="pixels", out=tmp_path / "r", seed=1, steps=3, size=32, overrides=TINY,
                         regions=["left=red", {"text": "blue", "mask": "right"}])
    assert result.status == "completed"
    saved = yaml.safe_load((tmp_path / "r" / "settings.yaml").read_text())
    assert [r["mask"] for r in saved["prompts"]["regions"]] == ["left", "right"]
    # the same as the settings key itself
    same = pipe.render("", preset="pixels", out=tmp_path / "s", seed=1, steps=3, size=32, overrides=TINY,
                       prompts={"regions": ["left=red", {"text": "blue", "mask": "right"}]})
    assert same.final_path.read_bytes() == result.final_path.read_bytes()


def test_cli_regions_and_replay(tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    args = ["render", "--region", "left=red", "--region", "right=blue:1.5", "--steps", "3", "--size", "32",
            "--seed", "4", "--out", str(out), "-q"] + [a for o in TINY for a in ("--set", o)]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code in (0, None)
    saved = yaml.safe_load((out / "settings.yaml").read_text())
    assert saved["prompts"]["regions"][1] == {"text": "blue", "weight": 1.5, "stop": None, "mask": "right"}
    with pytest.raises(SystemExit):
        main(["render", "--from", str(out / "final.png"), "--out", str(tmp_path / "again"), "-q"])
    assert (out / "final.png").read_bytes() == (tmp_path / "again" / "final.png").read_bytes()


@pytest.mark.parametrize("region, needle", [
    ("lft=red", "region 'lft=red': mask 'lft' is not valid; use left, right, top, bottom, centre, border or a .png"),
    ("nowhere.png=red", "region mask 'nowhere.png': no such file"),
])
def test_cli_bad_region_is_one_line(tmp_path, capsys, region: str, needle: str) -> None:
    with pytest.raises(SystemExit) as done:
        main(["render", "--region", region, "--steps", "1", "--size", "32", "--out", str(tmp_path / "x"), "-q"])
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_build_regions_warns_when_views_are_too_large() -> None:
    config = resolve_config(Pipeline().registry, "default", values={"prompts.regions": ["left=red"]})
    with pytest.warns(UserWarning, match="cutouts mode .mixed. with min_size 0.8"):
        build_regions(config.prompts.regions, 16, 16, torch.device("cpu"), config.cutouts)


def test_the_regions_preset_gives_views_that_fit_inside_a_region() -> None:
    import warnings

    config = resolve_config(Pipeline().registry, "regions", values={"prompts.regions": ["left=red", "right=blue"]})
    assert config.cutouts.mode == "random" and config.cutouts.min_size <= 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_regions(config.prompts.regions, 16, 16, torch.device("cpu"), config.cutouts)


def test_with_an_init_image_the_region_edits_inside_and_the_rest_stays(pipe: Pipeline, tmp_path) -> None:
    Image.new("RGB", (64, 64), (128, 128, 128)).save(tmp_path / "grey.png")
    result = pipe.render("", preset="regions", out=tmp_path / "r", seed=1, steps=25, size=64,
                         regions=["left=a red background"], init_image=str(tmp_path / "grey.png"),
                         overrides=["generator={name: pixel}", "cutouts.count=8", "losses+={name: init_image, weight: 5}"])
    moved = (result.tensor[0] - 128 / 255).abs().mean(dim=(0, 1))
    assert moved[:32].mean() > 2 * moved[32:].mean()


def test_an_oversized_png_mask_is_refused_before_decoding(tmp_path) -> None:
    Image.new("1", (8200, 8200)).save(tmp_path / "huge.png")  # 67 M pixels, a few KB on disk
    with pytest.raises(ConfigError, match=r"region mask '.*huge\.png': cannot read it as an image \(8200x8200"):
        load_mask(str(tmp_path / "huge.png"), 16, 16)


def test_a_region_weight_that_is_not_a_number_is_one_line() -> None:
    with pytest.raises(ConfigError, match="'1.2.3' is not a number"):
        parse_region("left=red:1.2.3")


def test_regions_by_set_append(pipe: Pipeline) -> None:
    config = resolve_config(pipe.registry, "regions", ["prompts.regions+=left=a red background:2",
                                                       "prompts.regions+={text: blue, mask: right}"])
    assert [(r.mask, r.text, r.weight) for r in config.prompts.regions] == [
        ("left", "a red background", 2.0), ("right", "blue", 1.0)]
