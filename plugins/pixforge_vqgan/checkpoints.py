"""Reading model weights without running code from the file.

Published taming checkpoints are Lightning pickles: besides tensors they name a few Lightning classes
(``ModelCheckpoint`` as a callback key, sometimes an ``AttributeDict`` of hyper-parameters). Those load
with ``torch.load(weights_only=True)`` and an allow-list that maps each such name to an inert stand-in,
so neither Lightning nor a full unpickle is needed. A file that names anything else is refused, unless
its SHA-256 is a known published checkpoint or the user set ``trust_checkpoint``; then it is unpickled
in full (Lightning names still resolve to the stand-ins, so Lightning need not be installed). The
order and the refusal are ``pixforge.weights.load_checkpoint``'s; this module supplies the allow-list.
"""

from __future__ import annotations

import pickle
import types
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from pixforge.errors import ConfigError
from pixforge.weights import load_checkpoint

#: Lightning classes whose instances are plain state holders in a checkpoint
LIGHTNING_OBJECTS = (
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    "pytorch_lightning.callbacks.early_stopping.EarlyStopping",
    "pytorch_lightning.callbacks.lr_monitor.LearningRateMonitor",
    "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint",
    "lightning.pytorch.callbacks.early_stopping.EarlyStopping",
)
#: Lightning dict subclasses (hyper-parameters): they load as plain dicts
LIGHTNING_DICTS = (
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
)
_LIGHTNING_MODULES = ("pytorch_lightning", "lightning", "lightning_fabric")


class LightningStandIn:
    """Takes the place of a Lightning object in a checkpoint: keeps its pickled state, has no behaviour."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"LightningStandIn({getattr(self, 'state', None)!r})"


class LightningDictStandIn:
    """Takes the place of a Lightning dict subclass: unpickling it yields a plain ``dict``."""

    def __new__(cls, *args: Any, **kwargs: Any) -> dict:  # type: ignore[misc]
        return {}


def allowed_globals() -> list[tuple[Any, str]]:
    """The (object, qualified name) pairs ``torch.serialization.safe_globals`` gets for a Lightning checkpoint."""
    import argparse

    import numpy as np

    pairs: list[tuple[Any, str]] = [(LightningStandIn, name) for name in LIGHTNING_OBJECTS]
    pairs += [(LightningDictStandIn, name) for name in LIGHTNING_DICTS]
    pairs.append((argparse.Namespace, "argparse.Namespace"))  # old Lightning kept hparams as a Namespace
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        pairs.append((scalar, f"{module}.scalar"))
    pairs.append((np.dtype, "numpy.dtype"))
    for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType"):
        dtype_class = getattr(np.dtypes, name, None)
        if dtype_class is not None:
            pairs.append((dtype_class, f"numpy.dtypes.{name}"))
    return pairs


class _StandInUnpickler(pickle.Unpickler):
    """A full unpickler that resolves Lightning names it cannot import to the stand-ins."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            if module.split(".")[0] not in _LIGHTNING_MODULES:
                raise
            return LightningDictStandIn if f"{module}.{name}" in LIGHTNING_DICTS else LightningStandIn


def _stand_in_pickle_module() -> types.ModuleType:
    """A ``pickle``-like module for ``torch.load(pickle_module=...)`` with the stand-in unpickler."""
    module = types.ModuleType("pixforge_vqgan_pickle")
    module.__dict__.update({key: getattr(pickle, key) for key in dir(pickle) if not key.startswith("__")})
    module.Unpickler = _StandInUnpickler  # type: ignore[attr-defined]
    module.load = lambda file, **kw: _StandInUnpickler(file, **kw).load()  # type: ignore[attr-defined]
    return module


def read_state_dict(
    path: str | Path, trust: bool = False, known_sha256: Collection[str] = (), what: str = "generator 'vqgan'"
) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file, or the ``state_dict`` of a torch/Lightning checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what}: checkpoint not found: {path}")
    try:
        data = load_checkpoint(
            path,
            trusted_sha256=known_sha256,
            trust=trust,
            allowed_globals=allowed_globals(),
            pickle_module=_stand_in_pickle_module(),
        )
    except ConfigError as error:
        raise ConfigError(f"{what}: {error}") from None
    except Exception as error:  # a trusted pickle can fail in any way its code does
        raise ConfigError(f"{what}: cannot unpickle checkpoint {path}: {type(error).__name__}: {error}") from error
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ConfigError(f"{what}: checkpoint {path} holds no state dict of tensors (nor a 'state_dict' entry)")
    return dict(data)
