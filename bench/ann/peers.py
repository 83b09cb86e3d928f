"""hnswlib and FAISS on the corpus and queries `recforge bench retrieval --export DIR` wrote, measured
the way recforge measures its indexes (crates/recforge-models/src/retrieval/search/bench.rs): the
first 20 queries warm up, the rest run one at a time; a multi-head query searches each head for k,
pools the candidates and rescores them exactly with the max over heads; recall@k is the share of
exact search's top-k (here FAISS's flat inner-product index, the exact baseline) returned.

    bench/ann/.venv/bin/python bench/ann/peers.py DIR [--k 10] [--m 16] [--ef-construction 100] [--ef 32,64,128] [--threads 2]

Prints a Markdown table with the same columns as `recforge bench retrieval`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import hnswlib
import numpy as np

WARM_UP = 20


def pooled_top_k(search_head, corpus: np.ndarray, query: np.ndarray, dim: int, k: int) -> list[int]:
    heads = query.reshape(-1, dim)
    candidates = np.unique(np.concatenate([search_head(h) for h in heads]))
    scores = (corpus[candidates] @ heads.T).max(axis=1)
    order = np.lexsort((candidates, -scores))  # best first, ties by ascending id (as recforge)
    return candidates[order][:k].tolist()


def measure(name: str, build_s: float, search_head, corpus, queries, truth, dim, k) -> str:
    for q in queries[:WARM_UP]:
        pooled_top_k(search_head, corpus, q, dim, k)
    latencies, found = [], 0
    started = time.perf_counter()
    for q, t in zip(queries[WARM_UP:], truth[WARM_UP:]):
        at = time.perf_counter()
        hits = pooled_top_k(search_head, corpus, q, dim, k)
        latencies.append((time.perf_counter() - at) * 1e3)
        found += len(set(hits) & t)
    total = time.perf_counter() - started
    latencies.sort()
    pct = lambda p: latencies[min(int(len(latencies) * p), len(latencies) - 1)]
    recall = found / (len(latencies) * k)
    n = corpus.shape[0]
    build = f"{build_s:.1f}" if build_s > 0 else "–"
    return f"| synthetic | {n} × {dim} | {name} | {build} | {len(latencies) / total:.0f} | {pct(0.5):.3f} | {pct(0.99):.3f} | {recall:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef", default="32,64,128")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    corpus = np.load(args.dir / "corpus.npy")
    queries = np.load(args.dir / "queries.npy")
    n, dim = corpus.shape
    k = args.k
    faiss.omp_set_num_threads(args.threads)

    flat = faiss.IndexFlatIP(dim)
    flat.add(corpus)
    truth = [set(pooled_top_k(lambda h: flat.search(h[None, :], k)[1][0], corpus, q, dim, k)) for q in queries]
    rows = [measure("faiss flat (exact)", 0.0, lambda h: flat.search(h[None, :], k)[1][0], corpus, queries, truth, dim, k)]

    graph = hnswlib.Index(space="ip", dim=dim)
    started = time.perf_counter()
    graph.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction, random_seed=100)
    graph.add_items(corpus, np.arange(n), num_threads=args.threads)
    build = time.perf_counter() - started
    graph.set_num_threads(1)
    for ef in (int(e) for e in args.ef.split(",")):
        graph.set_ef(max(ef, k))
        rows.append(measure(f"hnswlib ef={ef}", build, lambda h: graph.knn_query(h, k=k)[0][0].astype(np.int64), corpus, queries, truth, dim, k))

    print(f"| corpus | items × dim | index | build s | queries/s | p50 ms | p99 ms | recall@{k} |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n{len(queries) - WARM_UP} queries of {queries.shape[1] // dim} heads each, one at a time; hnswlib {getattr(hnswlib, '__version__', '')} "
          f"(M = {args.m}, ef_construction = {args.ef_construction}, built on {args.threads} threads, searching on 1), faiss {faiss.__version__} flat IP on {args.threads} threads.")


if __name__ == "__main__":
    main()
