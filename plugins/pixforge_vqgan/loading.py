"""From settings to a frozen autoencoder: resolve a model name or paths, read the config, load the weights.

Every failure a user can fix (a typo in the name, a missing file, a refused checkpoint, keys that do not
match the config) becomes a ConfigError that names the file or the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pixforge.errors import ConfigError, suggest

from .catalog import (
    DEFAULT_MODEL,
    PUBLISHED,
    SHIPPED,
    SHIPPED_FACTORS,
    canonical,
    known_sha256,
    model_names,
    published_paths,
)
from .checkpoints import read_state_dict
from .model import VQAutoencoder, frozen
from .spec import VQSpec, parse_spec, read_config

WHAT = "generator 'vqgan'"
#: the seed of the throwaway random initialisation that loading overwrites
INIT_SEED = 0


@dataclass(frozen=True)
class ModelFiles:
    """The config and weights a model loads from."""

    label: str
    config: Path
    checkpoint: Path


def resolve(model: str | None, config: str | None, checkpoint: str | None) -> ModelFiles:
    """The files for a model name (shipped or published), or for explicit ``config`` + ``checkpoint`` paths."""
    if config or checkpoint:
        if not (config and checkpoint):
            raise ConfigError(f"{WHAT} settings: 'config' and 'checkpoint' go together; give both paths")
        return ModelFiles(model or Path(checkpoint).stem, Path(config).expanduser(), Path(checkpoint).expanduser())
    name = canonical(model or DEFAULT_MODEL)
    if name in SHIPPED:
        config_path, weights = SHIPPED[name]
        if not weights.is_file():
            raise ConfigError(
                f"{WHAT}: the shipped model '{name}' has no weights at {weights}; "
                "train them with 'pixforge zoo train tiny-vqgan'"
            )
        return ModelFiles(name, config_path, weights)
    if name in PUBLISHED:
        return _published(name)
    raise ConfigError(f"{WHAT} settings: unknown model '{model}'; {suggest(model or '', model_names())}")


def _published(name: str) -> ModelFiles:
    """A published model's files in the cache folder; if absent, an error saying where to put which download."""
    entry = PUBLISHED[name]
    config, checkpoint = published_paths(name)
    missing = [path for path in (config, checkpoint) if not path.is_file()]
    if missing:
        raise ConfigError(
            f"{WHAT}: model '{name}' ({entry.description}) is not downloaded; place its files by hand: "
            f"config from {entry.config_urls[0]} as {config}, checkpoint from {entry.checkpoint_urls[0]} as "
            f"{checkpoint} (mirrors in pixforge_vqgan.catalog.PUBLISHED['{name}'])"
        )
    return ModelFiles(name, config, checkpoint)


def spec_for(files: ModelFiles) -> VQSpec:
    """The autoencoder a model's config describes."""
    return parse_spec(read_config(files.config), source=f"config {files.config}")


def factor_for(model: str | None, config: str | None) -> int:
    """The downsampling factor of a model, cheaply: from the catalog, or by reading the config only."""
    if config:
        return parse_spec(read_config(Path(config).expanduser()), source=f"config {config}").factor
    name = canonical(model or DEFAULT_MODEL)
    if name in SHIPPED_FACTORS:
        return SHIPPED_FACTORS[name]
    if name in PUBLISHED:
        return PUBLISHED[name].factor
    raise ConfigError(f"{WHAT} settings: unknown model '{model}'; {suggest(model or '', model_names())}")


def autoencoder_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The autoencoder's entries of a checkpoint: under ``prefix`` if it has any, and never ``loss.*``."""
    if prefix and any(key.startswith(prefix) for key in state):
        state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    return {key: value for key, value in state.items() if not key.startswith("loss.")}


def build(spec: VQSpec, state: dict[str, torch.Tensor], source: str) -> VQAutoencoder:
    """The autoencoder with ``state`` loaded strictly; mismatches name the checkpoint."""
    with torch.random.fork_rng(devices=[]):  # the throwaway init must not shift the render's random stream
        torch.manual_seed(INIT_SEED)
        model = VQAutoencoder(spec)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ConfigError(f"{WHAT}: {source} does not fit its config: {_first_line(error)}") from error
    if result.missing_keys or result.unexpected_keys:
        raise ConfigError(
            f"{WHAT}: {source} does not fit its config: missing {_some(result.missing_keys)}; "
            f"unexpected {_some(result.unexpected_keys)}"
        )
    return model


def load_model(files: ModelFiles, trust: bool, device: torch.device) -> VQAutoencoder:
    """A frozen autoencoder on ``device`` from a model's files."""
    spec = spec_for(files)
    state = read_state_dict(files.checkpoint, trust=trust, known_sha256=known_sha256(), what=WHAT)
    model = build(spec, autoencoder_state(state, spec.prefix), f"checkpoint {files.checkpoint}")
    return frozen(model).to(device)  # type: ignore[return-value]


def _some(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:n])
    return f"{shown} (+{len(keys) - n} more)" if len(keys) > n else shown


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:3])[:400]
