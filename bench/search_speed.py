"""Speed of the search pack: indexing images/s, queries/s at 10^3-10^5 vectors, approximate recall@10.

1. Indexing: world images written to a temporary folder, then ``build_index`` (load, embed, commit).
2. Search: synthetic clustered unit vectors (embeddings cluster; ``--data uniform`` is the worst case
   for approximate indexes) at each size, exact vs faiss IVF and HNSW: build time, one-at-a-time
   queries per second, and recall@10 against exact search on held-out queries.
3. Recall on real embeddings: world images embedded by the model, same comparison.
Prints tables; nothing is asserted. Usage:
    python bench/search_speed.py [--threads 1] [--images 512] [--sizes 1000,10000,100000] [--dim 512]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def _threads_from_argv() -> str:
    """``--threads`` read before numpy loads: OpenBLAS takes its thread count only at import."""
    for position, arg in enumerate(sys.argv):
        if arg == "--threads" and position + 1 < len(sys.argv):
            return sys.argv[position + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


# with more BLAS threads than idle cores, OpenBLAS's busy-waiting makes one query 10-100x slower
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, _threads_from_argv())

import numpy as np  # noqa: E402


def clustered(n: int, dim: int, rng: np.random.Generator, clusters: int = 1000, spread: float = 0.6) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres; ``spread`` is the noise per dimension relative to them."""
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    points = centres[rng.integers(0, clusters, n)] + spread * rng.normal(size=(n, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def uniform(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors spread evenly over the sphere: no structure, the hardest case for approximate search."""
    points = rng.normal(size=(n, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def queries_per_second(backend, queries: np.ndarray, k: int) -> float:
    started = time.perf_counter()
    for query in queries:
        backend.search(query[None], k)
    return len(queries) / (time.perf_counter() - started)


def compare(vectors: np.ndarray, queries: np.ndarray, k: int, approx: bool) -> list[dict]:
    """Exact and approximate backends over ``vectors``: build seconds, queries/s, recall@k."""
    from pixforge_search.backends import ExactBackend, build_hnsw, build_ivf, recall_at_k

    exact = ExactBackend(vectors)
    truth = exact.search(queries, k)[1]
    rows = [{"backend": "exact", "build_s": 0.0, "qps": queries_per_second(exact, queries, k), "recall": 1.0}]
    if not approx:
        return rows
    for name, build in (("ivf", build_ivf), ("hnsw", build_hnsw)):
        started = time.perf_counter()
        backend = build(vectors)
        built = time.perf_counter() - started
        found = backend.search(queries, k)[1]
        detail = f"nlist {backend.index.nlist}, nprobe {backend.index.nprobe}" if name == "ivf" else (
            f"M {backend.index.hnsw.nb_neighbors(1)}, efSearch {backend.index.hnsw.efSearch}"
        )
        rows.append(
            {"backend": f"{name} ({detail})", "build_s": built, "qps": queries_per_second(backend, queries, k),
             "recall": recall_at_k(found, truth)}
        )
    return rows


def print_rows(title: str, rows: list[dict]) -> None:
    print(title)
    print(f"  {'backend':<34} {'build s':>8} {'queries/s':>10} {'recall@10':>10}")
    for row in rows:
        print(f"  {row['backend']:<34} {row['build_s']:8.2f} {row['qps']:10.0f} {row['recall']:10.3f}")


def bench_indexing(images: int, model: str, batch: int) -> None:
    from pixforge import Pipeline
    from pixforge_search import Searcher, build_index
    from pixforge_zoo.world import write_samples

    pipeline = Pipeline()
    with tempfile.TemporaryDirectory() as tmp:
        write_samples(tmp, images, seed=1)
        report = build_index(tmp, pipeline=pipeline, model=model, batch_size=batch)
        searcher = Searcher(tmp, pipeline=pipeline)
        texts = [f"a red shape number {i}" for i in range(100)]  # distinct texts: no text cache hits
        started = time.perf_counter()
        for text in texts:
            searcher.text(text, k=10)
        qps = len(texts) / (time.perf_counter() - started)
    print(f"indexing {images} world images (64 px PNG) with {model}, batch {batch}: "
          f"{report.images_per_second:.0f} images/s (load + embed + commit each batch, model load included "
          f"in neither), {report.seconds:.1f} s in all")
    print(f"text queries end to end on that index (embed the text + exact search): {qps:.0f} queries/s")


def bench_real(count: int, model: str, k: int, approx: bool) -> None:
    import torch

    from pixforge import Pipeline
    from pixforge_search.models import ModelChoice, embed_images, load_perceptor, normalised_spec
    from pixforge_zoo import world

    pipeline = Pipeline()
    perceptor = load_perceptor(pipeline, normalised_spec(pipeline, ModelChoice(model)), "cpu")
    parts = [embed_images(perceptor, images) for images, _ in world.batches(count + 200, seed=2, batch_size=500)]
    vectors = np.concatenate(parts)
    with torch.inference_mode():
        rows = compare(vectors[:count], vectors[count:], k, approx)
    print_rows(f"real embeddings: {count} world images embedded by {model} (dim {vectors.shape[1]}), 200 held-out "
               "image queries", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch, faiss and BLAS threads")
    parser.add_argument("--images", type=int, default=512, help="images to index (0: skip)")
    parser.add_argument("--real", type=int, default=10000, help="real embeddings for the recall check (0: skip)")
    parser.add_argument("--model", default=None, help="clip model (default: the search pack's default)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dim", type=int, default=512, help="synthetic vector width (ViT-B-32: 512)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=("clustered", "uniform"), default="clustered", help="synthetic vectors")
    parser.add_argument("--no-approx", action="store_true", help="exact search only (no faiss)")
    args = parser.parse_args()

    import torch

    from pixforge_search.models import DEFAULT_MODEL

    torch.set_num_threads(args.threads)
    approx = not args.no_approx
    if approx:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    model = args.model or DEFAULT_MODEL
    print(f"threads {args.threads} (torch, faiss, BLAS), {os.cpu_count()} CPUs, numpy {np.__version__}")
    if args.images:
        bench_indexing(args.images, model, args.batch)
    rng = np.random.default_rng(0)
    for size in (int(s) for s in args.sizes.split(",")):
        data = (clustered if args.data == "clustered" else uniform)(size + args.queries, args.dim, rng)
        print_rows(f"synthetic: {size} {args.data} unit vectors, dim {args.dim}, {args.queries} held-out queries",
                   compare(data[:size], data[size:], 10, approx))
    if args.real:
        bench_real(args.real, model, 10, approx)


if __name__ == "__main__":
    main()
