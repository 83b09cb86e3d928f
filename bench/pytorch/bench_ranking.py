#!/usr/bin/env python3
"""PyTorch (CPU) reference of recforge's ranking models, for `recforge bench ranking`.

Reads a dataset folder written by recforge (`data.arrow`, Arrow IPC: one UInt32 column per
categorical field, List<UInt32> per multi-valued field, Float32 per numeric feature, then
`__label`; `meta.json` says each feature's kind and cardinality), builds the architecture
named by `--model-json` (recforge's `[model]` table as JSON), and measures on consecutive
batches, in order:

  * training examples/s with three optimizer set-ups, each from a fresh model:
    `adam` (torch.optim.Adam on every weight, dense embedding gradients),
    `fused_adam` (the same with fused=True), `sparse_adam` (sparse embedding gradients +
    SparseAdam on the tables, Adam on the rest);
  * inference examples/s over all rows in training-sized batches (eval mode, sigmoid);
  * the median latency of scoring one example.

Prints one JSON line: train_examples_per_sec {variant: value}, inference_examples_per_sec,
latency_batch1_ms, torch_version, threads. Batches are sliced into tensors before the clock
starts (recforge's figure includes its batch gather), which favours PyTorch slightly.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pyarrow.ipc as ipc
import torch
from torch import nn

SPARSE_KINDS = ("categorical", "multi_categorical", "sequence")
BAG_KINDS = ("multi_categorical", "sequence")
EMBEDDING_INIT_SCALE = 0.01  # recforge's ModelConfig::embedding_init_scale for deep models


# ---------------------------------------------------------------------------------- data


class Table:
    """The benchmark rows as tensors: per sparse field ids (+ offsets for bags), dense, labels."""

    def __init__(self, folder: Path):
        meta = json.loads((folder / "meta.json").read_text())
        with ipc.open_file(folder / "data.arrow") as reader:
            data = reader.read_all()
        self.features = [f for f in meta["features"] if f["kind"] in SPARSE_KINDS]
        self.sparse = []
        for f in self.features:
            column = data.column(f["name"]).combine_chunks()
            if f["kind"] in BAG_KINDS:
                offsets = column.offsets.to_numpy().astype(np.int64)
                values = column.values.to_numpy().astype(np.int64)
                self.sparse.append((torch.from_numpy(values), torch.from_numpy(offsets)))
            else:
                self.sparse.append((torch.from_numpy(column.to_numpy().astype(np.int64)), None))
        dense_names = [f["name"] for f in meta["features"] if f["kind"] == "numeric"]
        columns = [data.column(n).to_numpy().astype(np.float32) for n in dense_names]
        rows = data.num_rows
        self.dense = torch.from_numpy(np.stack(columns, axis=1)) if columns else torch.zeros(rows, 0)
        self.labels = torch.from_numpy(data.column("__label").to_numpy().astype(np.float32))
        self.rows = rows

    def batch(self, start: int, end: int):
        """Ids per field (bag fields as (values, offsets) with offsets rebased to 0)."""
        fields = []
        for values, offsets in self.sparse:
            if offsets is None:
                fields.append((values[start:end], None))
            else:
                lo, hi = int(offsets[start]), int(offsets[end])
                fields.append((values[lo:hi], offsets[start:end] - lo))
        return fields, self.dense[start:end], self.labels[start:end]


# ------------------------------------------------------------------------------ layers


class FieldEmbedding(nn.Module):
    """One table per sparse field; bags mean-pooled (empty bag -> zeros). -> [batch, fields, dim]"""

    def __init__(self, features, dim: int, sparse: bool):
        super().__init__()
        tables = []
        for f in features:
            rows = max(int(f["cardinality"]), 1)
            if f["kind"] in BAG_KINDS:
                table = nn.EmbeddingBag(rows, dim, mode="mean", sparse=sparse)
            else:
                table = nn.Embedding(rows, dim, sparse=sparse)
            nn.init.uniform_(table.weight, -EMBEDDING_INIT_SCALE, EMBEDDING_INIT_SCALE)
            tables.append(table)
        self.tables = nn.ModuleList(tables)

    def forward(self, fields):
        out = []
        for table, (ids, offsets) in zip(self.tables, fields):
            out.append(table(ids) if offsets is None else table(ids, offsets))
        return torch.stack(out, dim=1)


def mlp_block(d_input: int, hidden, d_output: int, dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout per hidden layer, then a linear head (recforge's layers::Mlp)."""
    layers, width = [], d_input
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, d_output))
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------ models


class MlpRanker(nn.Module):
    """recforge ranking/mlp.rs: [flatten(fields) ‖ dense] -> MLP -> logit."""

    def __init__(self, cfg, num_fields: int, num_dense: int):
        super().__init__()
        d_input = num_fields * cfg.get("embedding_dim", 16) + num_dense
        self.mlp = mlp_block(d_input, cfg.get("hidden", [256, 128]), 1, cfg.get("dropout", 0.0))

    def forward(self, fields, dense):
        x = torch.cat([fields.flatten(1), dense], dim=1)
        return self.mlp(x).squeeze(1)


MODELS = {"mlp": MlpRanker}


class Ranker(nn.Module):
    def __init__(self, cfg, features, num_dense: int, sparse: bool):
        super().__init__()
        kind = cfg["kind"]
        if kind not in MODELS:
            raise SystemExit(f"bench_ranking.py: no PyTorch reference for model kind {kind!r} (have {sorted(MODELS)})")
        self.embedding = FieldEmbedding(features, cfg.get("embedding_dim", 16), sparse)
        self.model = MODELS[kind](cfg, len(features), num_dense)

    def forward(self, fields, dense):
        return self.model(self.embedding(fields), dense)


# --------------------------------------------------------------------------- measuring


def optimizers(model: Ranker, variant: str, lr: float):
    if variant == "adam":
        return [torch.optim.Adam(model.parameters(), lr=lr)]
    if variant == "fused_adam":
        return [torch.optim.Adam(model.parameters(), lr=lr, fused=True)]
    if variant == "sparse_adam":
        return [
            torch.optim.SparseAdam(list(model.embedding.parameters()), lr=lr),
            torch.optim.Adam(model.model.parameters(), lr=lr),
        ]
    raise ValueError(variant)


def train(table: Table, cfg, variant: str, args) -> float:
    torch.manual_seed(args.seed)
    model = Ranker(cfg, table.features, table.dense.shape[1], sparse=(variant == "sparse_adam"))
    model.train()
    opts = optimizers(model, variant, args.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    b = args.batch_size
    batches = [table.batch(i * b, (i + 1) * b) for i in range(args.warmup_steps + args.steps)]
    started = time.perf_counter()
    for step, (fields, dense, labels) in enumerate(batches):
        if step == args.warmup_steps:
            started = time.perf_counter()
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(fields, dense), labels)
        loss.backward()
        for opt in opts:
            opt.step()
    seconds = time.perf_counter() - started
    if not math.isfinite(loss.item()):
        raise SystemExit(f"bench_ranking.py: {variant} diverged (loss {loss.item()})")
    return args.steps * b / seconds, model


def infer(table: Table, model: Ranker, args):
    model.eval()
    b = args.batch_size
    with torch.inference_mode():
        fields, dense, _ = table.batch(0, min(b, table.rows))
        torch.sigmoid(model(fields, dense))  # warm-up
        started = time.perf_counter()
        for start in range(0, table.rows, b):
            fields, dense, _ = table.batch(start, min(start + b, table.rows))
            torch.sigmoid(model(fields, dense))
        throughput = table.rows / (time.perf_counter() - started)
        latencies = []
        for i in range(args.latency_samples):
            r = i % table.rows
            started = time.perf_counter()
            fields, dense, _ = table.batch(r, r + 1)
            torch.sigmoid(model(fields, dense))
            latencies.append((time.perf_counter() - started) * 1e3)
    return throughput, float(np.median(latencies))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder written by recforge")
    parser.add_argument("--model-json", required=True, help="recforge's [model] table as JSON")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variants", default="adam,fused_adam,sparse_adam")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cfg = json.loads(args.model_json)
    table = Table(args.data)
    if table.rows < (args.warmup_steps + args.steps) * args.batch_size:
        raise SystemExit(f"bench_ranking.py: {args.data} has {table.rows} rows, fewer than the steps need")
    results, model = {}, None
    for variant in args.variants.split(","):
        results[variant], model = train(table, cfg, variant, args)
    throughput, latency = infer(table, model, args)
    print(json.dumps({
        "train_examples_per_sec": results,
        "inference_examples_per_sec": throughput,
        "latency_batch1_ms": latency,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
