"""The render-wide ``precision`` switch (``--precision``, a preset key, a Python keyword, a studio override)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pixforge.cli import app
from pixforge.errors import ConfigError
from pixforge.plugins import default_registry
from pixforge.resolve import resolve_config

REGISTRY = default_registry()


def _precisions(config) -> dict[str, object]:
    found = {f"generator {config.generator.name}": config.generator.settings.get("precision")}
    for perceptor in config.perceptors:
        found[f"perceptor {perceptor.name}"] = perceptor.settings.get("precision")
    if config.layout is not None:
        found[f"layout {config.layout.generator.name}"] = config.layout.generator.settings.get("precision")
    return found


def test_precision_reaches_every_component_that_has_the_setting_and_only_those() -> None:
    config = resolve_config(REGISTRY, "default", values={"precision": "amp_bf16"})
    found = _precisions(config)
    assert found["generator vqgan"] == "amp_bf16"
    assert found["perceptor clip"] == "amp_bf16"
    assert found["layout shapes"] is None  # the shapes generator has no precision: nothing added
    assert config.precision == "amp_bf16"
    # the typed settings the build uses carry it too
    assert config.perceptors[0].typed().precision == "amp_bf16"


def test_precision_overrides_a_components_own_and_none_leaves_each_its_own() -> None:
    mixed = resolve_config(REGISTRY, "default", ["perceptors.0.settings.precision=bf16", "precision=fp32"])
    assert _precisions(mixed)["perceptor clip"] == "fp32"
    own = resolve_config(REGISTRY, "default", ["perceptors.0.settings.precision=bf16"])
    assert own.precision is None and _precisions(own)["perceptor clip"] == "bf16"


def test_a_bad_precision_is_one_line_naming_the_key_and_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_config(REGISTRY, "default", ["precision=bf17"])
    message = str(caught.value)
    assert "precision" in message and "bf17" in message and "amp_bf16" in message and "\n" not in message


def test_cli_precision_flag_is_saved_with_the_render(tmp_path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["render", "a red circle on a blue background", "--precision", "amp_bf16",
                                      "--steps", "2", "--seed", "0", "-q", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = (out / "settings.yaml").read_text()
    assert "precision: amp_bf16" in saved
    bad = CliRunner().invoke(app, ["render", "a red circle", "--precision", "bf17", "-q", "--out", str(tmp_path / "b")])
    assert bad.exit_code != 0 and "bf17" in bad.output and "Traceback" not in bad.output
