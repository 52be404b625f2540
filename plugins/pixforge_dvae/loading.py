"""From settings to a frozen dVAE: a registry name or explicit files → state dicts → dall-e modules.

Weights are read as safely as the file allows (``pixforge.weights.load_checkpoint``): safetensors and
plain state dicts load without running code; OpenAI's published ``.pkl`` files are whole pickled
modules, which are unpickled only when their SHA-256 matches a registry entry or the user set
``trust_checkpoint: true``. Of an unpickled module only its state dict is kept: the modules pixforge
runs are always its own dall-e ``Encoder``/``Decoder``, built from the tensors' shapes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pixforge.errors import ConfigError
from pixforge.weights import WeightEntry, ensure_local, load_checkpoint, lookup

from .catalog import KIND, entries_by_name
from .model import DVAE, decoder_from_state, encoder_from_state, frozen

WHAT = "generator 'dvae'"


@dataclass(frozen=True)
class DVAEFiles:
    """Where a dVAE's weights are, and which SHA-256s vouch for a full unpickle of them."""

    label: str
    decoder: Path
    encoder: Path | None = None
    trusted_sha256: frozenset[str] = frozenset()


def entry_files(entry: WeightEntry, allow_download: bool | None = None) -> DVAEFiles:
    """A registry entry's files on disk (fetched if missing and allowed)."""
    paths = ensure_local(entry, allow_download)
    names = entry.extra
    if "decoder" not in names:
        raise ConfigError(f"{WHAT}: model '{entry.name}' does not say which file is its decoder (extra['decoder'])")
    trusted = frozenset(f.sha256 for f in entry.files if f.sha256)
    encoder = paths.get(names["encoder"]) if "encoder" in names else None
    return DVAEFiles(entry.name, paths[names["decoder"]], encoder, trusted)


def resolve(
    model: str,
    encoder: str | None,
    decoder: str | None,
    entries: Mapping[str, WeightEntry] | None = None,
    allow_download: bool | None = None,
) -> DVAEFiles:
    """Explicit ``decoder`` (+ optional ``encoder``) paths, else the registry entry called ``model``.

    ``entries`` is the whole registry (None: this plugin's own entries), so a dVAE another plugin
    registers is found too; ``allow_download=None`` means allowed unless ``PIXFORGE_OFFLINE`` is set.
    """
    if decoder:
        enc = Path(encoder).expanduser() if encoder else None
        return DVAEFiles(Path(decoder).stem, Path(decoder).expanduser(), enc)
    if encoder:
        raise ConfigError(f"{WHAT} settings: 'encoder' needs 'decoder' too (or neither, and a 'model' name)")
    entry = lookup(entries if entries is not None else entries_by_name(), model, kind=KIND)
    return entry_files(entry, allow_download)


def state_dict_of(data: object, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of what a weights file held: a module (published pickles), a state dict, or a wrapper of one."""
    if isinstance(data, nn.Module):
        data = data.state_dict()
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ConfigError(f"{WHAT}: {path} holds neither a dall-e module nor a state dict of tensors")
    return {str(key): value.detach().cpu() for key, value in data.items()}


def read_state_dict(path: Path, trusted_sha256: Collection[str] = (), trust: bool = False) -> dict[str, torch.Tensor]:
    """A weights file's state dict; a pickle needing a full unpickle is refused unless vouched for or trusted."""
    if not path.is_file():
        raise ConfigError(f"{WHAT}: weights file not found: {path}")
    try:
        data = load_checkpoint(path, trusted_sha256=trusted_sha256, trust=trust)
    except ConfigError as error:
        raise ConfigError(f"{WHAT}: {error}") from None
    except Exception as error:  # a trusted pickle can fail in any way its code does
        raise ConfigError(f"{WHAT}: cannot unpickle {path}: {type(error).__name__}: {error}") from error
    return state_dict_of(data, path)


def _build(make: object, state: dict[str, torch.Tensor], path: Path) -> nn.Module:
    try:
        return make(state)  # type: ignore[operator]
    except (KeyError, ValueError, RuntimeError) as error:
        first = " ".join(str(error).split())[:300]
        raise ConfigError(f"{WHAT}: {path} is not a dall-e encoder/decoder in the expected layout ({first})") from None


def load_dvae(files: DVAEFiles, trust: bool = False, device: torch.device | str = "cpu") -> DVAE:
    """A frozen DVAE on ``device`` from ``files``."""
    decoder = _build(decoder_from_state, read_state_dict(files.decoder, files.trusted_sha256, trust), files.decoder)
    encoder = None
    if files.encoder is not None:
        encoder = _build(encoder_from_state, read_state_dict(files.encoder, files.trusted_sha256, trust), files.encoder)
    try:
        model = DVAE(decoder, encoder)
    except ValueError as error:
        raise ConfigError(f"{WHAT}: model '{files.label}': {error}") from None
    return frozen(model).to(device)  # type: ignore[return-value]
