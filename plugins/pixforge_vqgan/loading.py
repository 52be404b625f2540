"""From settings to a frozen autoencoder: resolve a model name or paths, read the config, load the weights.

A model name resolves through the weight registry (``pixforge models list``): a shipped model is used in
place, a published one is fetched into ``<cache>/vqgan/<name>/`` when missing, unless downloads are off.
Every failure a user can fix (a typo in the name, a missing file, a refused checkpoint, keys that do not
match the config) becomes a one-line error that names the file or the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from pixforge.errors import ConfigError
from pixforge.seeding import seeded
from pixforge.weights import WeightEntry, ensure_local, lookup, trusted_sha256

from .catalog import DEFAULT_MODEL, KIND, entries_by_name
from .checkpoints import read_state_dict
from .model import VQAutoencoder, frozen
from .spec import VQSpec, parse_spec, read_config

WHAT = "generator 'vqgan'"
#: the seed of the throwaway random initialisation that loading overwrites
INIT_SEED = 0


@dataclass(frozen=True)
class ModelFiles:
    """The config and weights a model loads from, and the SHA-256s that vouch for a full unpickle."""

    label: str
    config: Path
    checkpoint: Path
    trusted_sha256: frozenset[str] = frozenset()


def resolve(
    model: str | None,
    config: str | None,
    checkpoint: str | None,
    *,
    weights: Mapping[str, WeightEntry] | None = None,
    allow_download: bool | None = None,
) -> ModelFiles:
    """The files for a model name, or for explicit ``config`` + ``checkpoint`` paths.

    ``weights`` is the registry (None: this plugin's own entries); ``allow_download=None`` means allowed
    unless ``PIXFORGE_OFFLINE`` is set.
    """
    weights = weights if weights is not None else entries_by_name()
    trusted = frozenset(trusted_sha256(weights))
    if config or checkpoint:
        if not (config and checkpoint):
            raise ConfigError(f"{WHAT} settings: 'config' and 'checkpoint' go together; give both paths")
        label = model or Path(checkpoint).stem
        return ModelFiles(label, Path(config).expanduser(), Path(checkpoint).expanduser(), trusted)
    return entry_files(find_entry(model, weights), allow_download, trusted)


def find_entry(model: str | None, weights: Mapping[str, WeightEntry]) -> WeightEntry:
    """The registry's VQGAN entry called ``model`` (or aliased so); a one-line error suggests a close name."""
    try:
        return lookup(weights, model or DEFAULT_MODEL, kind=KIND)
    except ConfigError as error:
        raise ConfigError(f"{WHAT} settings: {error}") from None


def entry_files(entry: WeightEntry, allow_download: bool | None, trusted: frozenset[str]) -> ModelFiles:
    """An entry's config and checkpoint on disk, fetched first when missing (and allowed)."""
    names = {role: entry.extra.get(role) for role in ("config", "checkpoint")}
    for role, name in names.items():
        if name not in {f.name for f in entry.files}:
            raise ConfigError(
                f"{WHAT}: model '{entry.name}' (plugin '{entry.plugin or '?'}') does not say which of its files is "
                f"the {role}: its extra['{role}'] must name one of {[f.name for f in entry.files]}"
            )
    paths = ensure_local(entry, allow_download)
    return ModelFiles(entry.name, paths[names["config"]], paths[names["checkpoint"]], trusted)


def spec_for(files: ModelFiles) -> VQSpec:
    """The autoencoder a model's config describes."""
    return parse_spec(read_config(files.config), source=f"config {files.config}")


def factor_for(
    model: str | None, config: str | None, weights: Mapping[str, WeightEntry] | None = None
) -> int | None:
    """The downsampling factor of a model, cheaply: by reading an explicit config, or from the registry
    entry's ``extra["factor"]`` (``weights``; None: this plugin's own entries); None for a name no entry
    knows or that records no factor (a typo is reported when the generator is built)."""
    if config:
        return parse_spec(read_config(Path(config).expanduser()), source=f"config {config}").factor
    try:
        entry = lookup(weights or entries_by_name(), model or DEFAULT_MODEL, kind=KIND)
    except ConfigError:
        return None
    factor = entry.extra.get("factor")
    return int(factor) if factor else None


def autoencoder_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The autoencoder's entries of a checkpoint: under ``prefix`` if it has any, and never ``loss.*``."""
    if prefix and any(key.startswith(prefix) for key in state):
        state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    return {key: value for key, value in state.items() if not key.startswith("loss.")}


def build(spec: VQSpec, state: dict[str, torch.Tensor], source: str) -> VQAutoencoder:
    """The autoencoder with ``state`` loaded strictly; mismatches name the checkpoint."""
    with seeded(INIT_SEED):  # the throwaway init must not shift the render's random stream
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
    state = read_state_dict(files.checkpoint, trust=trust, known_sha256=files.trusted_sha256, what=WHAT)
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
