"""Nearest-neighbour search over unit vectors: exact (numpy) or approximate (faiss IVF or HNSW).

Exact search is a matrix product: a few milliseconds per query at 10^5 vectors on a laptop CPU, so it
is the default. Approximate indexes trade recall for speed on larger collections; ``bench/search_speed.py``
measures both. faiss is an optional dependency (``pip install pixforge[search]``): asking for an
approximate index without it is an error, never a silent switch to exact search.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from pixforge.errors import ConfigError

BACKENDS = ("auto", "exact", "ivf", "hnsw")
#: from this many vectors on, ``auto`` picks an approximate index (below it exact search is fast enough)
APPROX_FROM = 200_000
#: the approximate index ``auto`` picks
AUTO_APPROX = "hnsw"
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


class Backend(Protocol):
    name: str

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``[Q, D]`` unit queries → scores and row ids, both ``[Q, k]``, best first (ids -1 past the end)."""
        ...


class ExactBackend:
    """Inner products with every vector, then a partial sort."""

    name = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, len(self.vectors))
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        scores = queries @ self.vectors.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(
            np.arange(scores.shape[1]), (len(queries), 1)
        )
        top = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(part, order, axis=1).astype(np.int64)


class FaissBackend:
    """A faiss index over inner products (IVF or HNSW)."""

    def __init__(self, name: str, index: Any) -> None:
        self.name = name
        self.index = index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.index.ntotal)
        scores, ids = self.index.search(queries, k)
        return scores, ids.astype(np.int64)


def require_faiss(kind: str) -> ModuleType:
    """The faiss module, or a ConfigError that says how to install it."""
    try:
        import faiss
    except ImportError:
        raise ConfigError(
            f"the approximate '{kind}' index needs faiss: pip install pixforge[search] "
            "(or search with --backend exact)"
        ) from None
    return faiss


def choose(kind: str, count: int) -> str:
    """The backend to use for ``count`` vectors: ``auto`` is exact below APPROX_FROM."""
    if kind not in BACKENDS:
        raise ConfigError(f"search backend '{kind}' is not one of {', '.join(BACKENDS)}")
    if kind == "auto":
        return AUTO_APPROX if count >= APPROX_FROM else "exact"
    return kind


def ivf_lists(count: int) -> int:
    """IVF cells: about 4·√n, with at least 39 training vectors per cell (faiss's minimum)."""
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


def ivf_probes(lists: int) -> int:
    """Cells visited per query: a tenth of them, at least 8 (recall measured in the bench)."""
    return max(1, min(lists, max(8, lists // 10)))


def build_ivf(vectors: np.ndarray, lists: int | None = None, probes: int | None = None) -> FaissBackend:
    faiss = require_faiss("ivf")
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    lists = lists or ivf_lists(len(data))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(data.shape[1]), data.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    index.train(data)
    index.add(data)
    index.nprobe = probes or ivf_probes(lists)
    return FaissBackend("ivf", index)


def build_hnsw(vectors: np.ndarray, m: int = HNSW_M, ef_search: int = HNSW_EF_SEARCH) -> FaissBackend:
    faiss = require_faiss("hnsw")
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexHNSWFlat(data.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(data)
    index.hnsw.efSearch = ef_search
    return FaissBackend("hnsw", index)


def make_backend(kind: str, vectors: np.ndarray, saved: Path | None = None) -> Backend:
    """A backend of ``kind`` (after ``choose``) over ``vectors``; approximate ones are kept in ``saved``."""
    if kind == "exact":
        return ExactBackend(vectors)
    faiss = require_faiss(kind)
    if saved is not None and saved.is_file():
        index = faiss.read_index(str(saved))
        if index.ntotal == len(vectors):
            backend = FaissBackend(kind, index)
            _tune(backend)
            return backend
    backend = build_ivf(vectors) if kind == "ivf" else build_hnsw(vectors)
    if saved is not None:
        _save(faiss, backend.index, saved)
    return backend


def _tune(backend: FaissBackend) -> None:
    """Search-time settings are not all stored in the file: set them again after loading."""
    if backend.name == "ivf":
        backend.index.nprobe = ivf_probes(backend.index.nlist)
    else:
        backend.index.hnsw.efSearch = HNSW_EF_SEARCH


def _save(faiss: ModuleType, index: Any, path: Path) -> None:
    """Keep a built index for the next search; an unwritable index folder only costs the rebuild."""
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        faiss.write_index(index, str(temporary))
        os.replace(temporary, path)
    except (OSError, RuntimeError):
        pass
    finally:
        temporary.unlink(missing_ok=True)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """The share of the true top-k ids (``[Q, k]``) that the approximate search found."""
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / max(1, truth.size)
