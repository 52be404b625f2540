"""Seeds: one seed fixes every random choice of a render, without touching the caller's RNG state."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .numerics import use_thread_stable_blas

MAX_SEED = 2**63 - 1


def resolve_seed(seed: int | str | None) -> int:
    """An int as is; a string of digits as its number; any other string through SHA-256; None → random."""
    if seed is None:
        return secrets.randbelow(2**31)
    if isinstance(seed, bool):
        raise TypeError("seed must be an int or a string")
    if isinstance(seed, int):
        return seed % (MAX_SEED + 1)
    text = str(seed).strip()
    if text.lstrip("-").isdigit():
        return int(text) % (MAX_SEED + 1)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") & MAX_SEED


#: torch's default generator is one per process, so seeded blocks in two threads take turns on it
#: (the one piece of process-wide state here: it guards a process-wide resource)
_DEFAULT_GENERATOR = threading.RLock()


@contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with torch's default generators seeded, restoring the outer state afterwards.

    Kornia and most torch code draw from the default generator, so forking it is what keeps two renders
    in one process independent and each render reproducible. Blocks in other threads wait their turn:
    two renders in two threads give the very bytes they give one after the other. Without a CUDA
    ``device`` only the CPU generator is forked (a model's seeded initialisation, say).
    """
    use_thread_stable_blas()  # the same seed gives the same bytes on any thread count (pixforge.numerics)
    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    with _DEFAULT_GENERATOR, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
