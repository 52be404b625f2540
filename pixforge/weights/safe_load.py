"""Loading weights without running code from the file, unless the file is known or the user trusts it.

Order: safetensors (tensors only) → ``torch.load(weights_only=True)`` with a plugin's allow-list of inert
globals → a full unpickle, only for a file whose SHA-256 a registry entry vouches for or when the user
gave ``--trust-checkpoint`` (``trust_checkpoint: true`` from a file never counts: ``pixforge.trust``). A pickle can run any code when it is loaded; a checksum is what makes
a published one safe to open.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..trust import TRUST_FLAG
from .cache import sha256_file


def _unsupported_global(exc: BaseException) -> str:
    """The global torch's weights-only unpickler refused, when its message names one."""
    match = re.search(r"(?:Unsupported global: GLOBAL|global)\s+([\w.]+)", str(exc))
    return f" (it names {match.group(1)})" if match else ""


def load_checkpoint(
    path: Path | str,
    *,
    trusted_sha256: Collection[str] | None = None,
    trust: bool = False,
    allowed_globals: Sequence[Any] = (),
    map_location: str = "cpu",
    pickle_module: Any = None,
) -> Any:
    """The contents of a safetensors file or torch checkpoint, loaded as safely as the file allows.

    ``allowed_globals`` go to ``torch.serialization.safe_globals`` (objects or ``(object, "qual.name")``
    pairs); ``pickle_module`` is used only for a full unpickle.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint '{path}': no such file")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device=map_location)
        except Exception as exc:
            raise ConfigError(f"checkpoint '{path}': not a readable safetensors file ({exc})") from None

    import torch

    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _unsupported_global(exc)
    except Exception as exc:
        raise ConfigError(f"checkpoint '{path}': cannot read it ({type(exc).__name__}: {exc})") from None
    digest = sha256_file(path)
    if not trust and digest not in set(trusted_sha256 or ()):
        raise ConfigError(
            f"checkpoint '{path}' (SHA-256 {digest}) needs a full unpickle, which can run code from the "
            f"file{refused}, and it is no registered model's file; only if you trust where it came from, give "
            f"{TRUST_FLAG} on your command line (trust_checkpoint: true in a preset, sweep file or PNG is ignored)"
        )
    extra = {"pickle_module": pickle_module} if pickle_module is not None else {}
    return torch.load(path, map_location=map_location, weights_only=False, **extra)
