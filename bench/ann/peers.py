"""hnswlib and FAISS on the corpus and queries `recforge bench retrieval --export DIR` wrote, measured
the way recforge measures its indexes (crates/recforge-models/src/retrieval/search/bench.rs): the
first 20 queries warm up, the rest run one at a time, then again `--batch` per call; a multi-head
query searches each head for k, pools the candidates and rescores them exactly with the max over
heads; recall@k is the share of exact search's top-k (here FAISS's flat inner-product index, the
exact baseline) returned; memory is the process's RSS growth while building the index.

    bench/ann/.venv/bin/python bench/ann/peers.py DIR [--k 10] [--m 16] [--ef-construction 100] [--ef 32,64,128] [--batch 64] [--threads 2] [--json]

Prints a Markdown table with the same columns as `recforge bench retrieval`, or with `--json` the
rows as `recforge bench retrieval --json` writes them (`recforge bench retrieval --peers` reads that).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import hnswlib
import numpy as np

WARM_UP = 20


def resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pooled(candidates: np.ndarray, corpus: np.ndarray, heads: np.ndarray, k: int) -> list[int]:
    """The best k of `candidates` by the max over `heads` of the inner product, ties by ascending id."""
    candidates = np.unique(candidates[candidates >= 0])
    scores = (corpus[candidates] @ heads.T).max(axis=1)
    order = np.lexsort((candidates, -scores))
    return candidates[order][:k].tolist()


def answer(search, corpus: np.ndarray, queries: np.ndarray, dim: int, k: int) -> list[list[int]]:
    """Top-k for each query: `search` gets every head of every query as one [rows, dim] matrix
    and returns [rows, k] candidate ids (one call, as a batched index answers)."""
    heads = queries.reshape(len(queries), -1, dim)
    found = search(heads.reshape(-1, dim)).reshape(len(queries), -1)
    return [pooled(found[i], corpus, heads[i], k) for i in range(len(queries))]


def measure(name: str, build_s: float, memory_mib: float, search_one, search_many, corpus, queries, truth, dim, k, batch) -> dict:
    """`search_one` answers the single-query loop, `search_many` the batches."""
    answer(search_one, corpus, queries[:WARM_UP], dim, k)
    timed, timed_truth = queries[WARM_UP:], truth[WARM_UP:]
    latencies, found = [], 0
    started = time.perf_counter()
    for q, t in zip(timed, timed_truth):
        at = time.perf_counter()
        hits = answer(search_one, corpus, q[None, :], dim, k)[0]
        latencies.append((time.perf_counter() - at) * 1e3)
        found += len(set(hits) & t)
    total = time.perf_counter() - started
    started = time.perf_counter()
    for first in range(0, len(timed), batch):
        answer(search_many, corpus, timed[first:first + batch], dim, k)
    batch_total = time.perf_counter() - started
    latencies.sort()
    pct = lambda p: latencies[min(int(len(latencies) * p), len(latencies) - 1)]
    return {
        "corpus": "synthetic",
        "items": int(corpus.shape[0]),
        "dim": dim,
        "index": name,
        "build_seconds": build_s,
        "queries_per_sec": len(latencies) / total,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "batch_queries_per_sec": len(timed) / batch_total,
        "memory_mib": memory_mib,
        "recall": found / (len(latencies) * k),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef", default="32,64,128")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus = np.load(args.dir / "corpus.npy")
    queries = np.load(args.dir / "queries.npy")
    n, dim = corpus.shape
    k = args.k
    faiss.omp_set_num_threads(args.threads)

    before = resident_mib()
    flat = faiss.IndexFlatIP(dim)
    flat.add(corpus)
    flat_mib = resident_mib() - before
    flat_search = lambda rows: flat.search(np.ascontiguousarray(rows), k)[1]
    truth = [set(hits) for hits in answer(flat_search, corpus, queries, dim, k)]
    rows = [measure("faiss flat (exact)", 0.0, flat_mib, flat_search, flat_search, corpus, queries, truth, dim, k, args.batch)]
    del flat

    before = resident_mib()
    graph = hnswlib.Index(space="ip", dim=dim)
    started = time.perf_counter()
    graph.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction, random_seed=100)
    graph.add_items(corpus, np.arange(n), num_threads=args.threads)
    build = time.perf_counter() - started
    graph_mib = resident_mib() - before
    # One query at a time runs on one thread (as recforge's graph indexes); a batch on all.
    for ef in (int(e) for e in args.ef.split(",")):
        graph.set_ef(max(ef, k))
        one = lambda rows: graph.knn_query(rows, k=k, num_threads=1)[0].astype(np.int64)
        many = lambda rows: graph.knn_query(rows, k=k, num_threads=args.threads)[0].astype(np.int64)
        rows.append(measure(f"hnswlib ef={ef}", build, graph_mib, one, many, corpus, queries, truth, dim, k, args.batch))

    if args.json:
        print(json.dumps(rows))
        return
    print(f"| corpus | items × dim | index | build s | memory MiB | queries/s | p50 ms | p99 ms | batch q/s | recall@{k} |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        build = f"{r['build_seconds']:.1f}" if r["build_seconds"] > 0 else "–"
        print(f"| {r['corpus']} | {r['items']} × {r['dim']} | {r['index']} | {build} | {r['memory_mib']:.0f} | {r['queries_per_sec']:.0f} | "
              f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['batch_queries_per_sec']:.0f} | {r['recall']:.3f} |")
    print(f"\n{len(queries) - WARM_UP} queries of {queries.shape[1] // dim} heads each, one at a time, then {args.batch} per call; "
          f"hnswlib {getattr(hnswlib, '__version__', '')} (M = {args.m}, ef_construction = {args.ef_construction}, built on {args.threads} threads), "
          f"faiss {faiss.__version__} flat IP on {args.threads} threads.")


if __name__ == "__main__":
    main()
