"""The filter kind: a third-party filter registers through an in-test plugin, and the engine applies it between
the generator and the cutouts (the picture it makes is kept; a view-only one changes only what is perceived)."""

from __future__ import annotations

import pytest
import torch
from pydantic import Field

from pixforge import Filter, Pipeline, StrictModel, hookimpl
from pixforge.errors import PluginError
from pixforge.testing import DummyPlugin, FilterContract

PRESET = {
    "generator": {"name": "dummy"},
    "perceptors": [{"name": "dummy", "settings": {"size": 16, "dim": 8}}],
    "losses": [{"name": "clip_prompt"}],
    "cutouts": {"count": 2},
    "size": [24, 16],
    "steps": 3,
    "checkpoint_every": 0,
}


class DarkenSettings(StrictModel):
    #: what the picture is multiplied by
    factor: float = Field(0.5, gt=0, le=1)


class Darken(Filter[DarkenSettings]):
    """A picture filter with a loss term: the picture times ``factor``; the term is the picture's mean."""

    Settings = DarkenSettings
    description = "test filter: multiplies the picture by a factor"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image * self.settings.factor

    def loss(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        return after.mean()


class Blackout(Filter):
    """A view-only filter: the perceptors see a nearly black picture, the kept picture is untouched."""

    description = "test filter: the perceptors see a nearly black picture"
    view_only = True
    seamless = True

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image * 0.01


class FilterPlugin:
    @hookimpl
    def register_filters(self, register) -> None:  # noqa: ANN001
        register("darken", Darken)
        register("blackout", Blackout)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline(plugins=[DummyPlugin(), FilterPlugin()])


class TestDarkenContract(FilterContract):
    component = Darken
    settings = {"factor": 0.25}


class TestBlackoutContract(FilterContract):
    component = Blackout


def test_third_party_filter_is_registered(pipe: Pipeline) -> None:
    assert {"darken", "blackout"} <= set(pipe.registry.names("filter"))
    rows = {row["name"]: row for row in pipe.registry.plugins()}
    assert any(row["provides"].get("filter") == ["blackout", "darken"] for row in rows.values())


def test_engine_keeps_the_filtered_picture_and_its_loss_term(pipe: Pipeline, tmp_path) -> None:
    plain = pipe.render("a red circle", {**PRESET}, out=tmp_path / "plain", seed=3, steps=1)
    dark = pipe.render(
        "a red circle", {**PRESET, "filters": [{"name": "darken", "weight": 2.0, "settings": {"factor": 0.5}}]},
        out=tmp_path / "dark", seed=3,
    )
    assert dark.status == "completed" and "darken" in dark.losses[0]
    # the term is weighted: twice the picture's mean, and the picture is at most half bright
    assert 0 < dark.losses[0]["darken"] <= 1.0 + 1e-6
    assert dark.tensor.max() <= 0.5 + 1e-6 and plain.tensor.max() > 0.5
    assert dark.settings["filters"][0]["settings"] == {"factor": 0.5}


def test_view_only_filter_changes_what_is_perceived_not_the_picture(pipe: Pipeline, tmp_path) -> None:
    plain = pipe.render("a red circle", {**PRESET}, out=tmp_path / "plain", seed=5)
    blind = pipe.render("a red circle", {**PRESET, "filters": [{"name": "blackout"}]}, out=tmp_path / "blind", seed=5)
    assert "blackout" not in blind.losses[0]
    assert not torch.equal(plain.tensor, blind.tensor)  # the perceptor saw something else
    assert blind.tensor.max() > 0.5  # but the kept picture is not darkened


def test_seamless_filter_builds_a_seamless_context(pipe: Pipeline) -> None:
    plain = pipe.resolve("x", {**PRESET})
    tiled = pipe.resolve("x", {**PRESET, "filters": [{"name": "blackout"}]})
    assert not pipe.context(plain, torch.device("cpu")).seamless
    assert pipe.context(tiled, torch.device("cpu")).seamless


def test_filter_and_loss_names_share_keys(pipe: Pipeline, tmp_path) -> None:
    two = {**PRESET, "filters": [{"name": "darken"}, {"name": "darken", "settings": {"factor": 1.0}}]}
    result = pipe.render("x", two, out=tmp_path / "two", seed=1, steps=1)
    assert {"darken", "darken#2", "clip_prompt"} <= set(result.losses[0])


def test_unknown_filter_is_named(pipe: Pipeline) -> None:
    with pytest.raises(PluginError, match="unknown filter 'darkn'.*darken"):
        pipe.resolve("x", {**PRESET, "filters": [{"name": "darkn"}]})
