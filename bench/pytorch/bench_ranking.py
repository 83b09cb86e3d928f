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
latency_batch1_ms, dense_parameters (non-embedding weights, to check the mirror has recforge's
shapes), torch_version, threads. Batches are sliced into tensors before the clock
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


def flat_features(fields, dense):
    """[B, F*d + N]: embeddings then raw numeric features (recforge layers::flat_features)."""
    return torch.cat([fields.flatten(1), dense], dim=1)


class MlpRanker(nn.Module):
    """recforge ranking/mlp.rs: [flatten(fields) ‖ dense] -> MLP -> logit."""

    def __init__(self, cfg, num_fields: int, num_dense: int):
        super().__init__()
        d_input = num_fields * cfg.get("embedding_dim", 16) + num_dense
        self.mlp = mlp_block(d_input, cfg.get("hidden", [256, 128]), 1, cfg.get("dropout", 0.0))

    def forward(self, fields, dense):
        return self.mlp(flat_features(fields, dense)).squeeze(1)


class CrossNet(nn.Module):
    """recforge layers/cross_net.rs: x_{l+1} = x0 * (W_l x_l + b_l) + x_l, W_l full or U_l V_l^T."""

    def __init__(self, d_input: int, layers: int, low_rank):
        super().__init__()
        self.down = nn.ModuleList(
            [nn.Linear(d_input, low_rank, bias=False) if low_rank else nn.Identity() for _ in range(layers)]
        )
        self.up = nn.ModuleList([nn.Linear(low_rank or d_input, d_input) for _ in range(layers)])

    def forward(self, x0):
        x = x0
        for down, up in zip(self.down, self.up):
            x = x0 * up(down(x)) + x
        return x


class DcnV2(nn.Module):
    """recforge ranking/dcn_v2.rs: parallel = head(Cross(x0)) + MLP(x0); stacked = MLP(Cross(x0))."""

    def __init__(self, cfg, num_fields: int, num_dense: int):
        super().__init__()
        d_input = num_fields * cfg.get("embedding_dim", 16) + num_dense
        self.cross = CrossNet(d_input, cfg.get("cross_layers", 3), cfg.get("low_rank"))
        self.deep = mlp_block(d_input, cfg.get("hidden", [256, 128]), 1, cfg.get("dropout", 0.0))
        parallel = cfg.get("structure", "parallel") == "parallel"
        self.cross_head = nn.Linear(d_input, 1) if parallel else None

    def forward(self, fields, dense):
        x0 = flat_features(fields, dense)
        if self.cross_head is not None:
            logits = self.cross_head(self.cross(x0)) + self.deep(x0)
        else:
            logits = self.deep(self.cross(x0))
        return logits.squeeze(1)


def kaiming_uniform(shape, fan_in: int) -> nn.Parameter:
    """burn's KaimingUniform(gain 1/sqrt(3)) = PyTorch Linear's init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class TokenLinear(nn.Module):
    """recforge layers/projection.rs: one d_in -> d_out map per token; [B, L, d_in] -> [B, L, d_out]."""

    def __init__(self, tokens: int, d_in: int, d_out: int):
        super().__init__()
        self.weight = kaiming_uniform((tokens, d_in, d_out), d_in)
        self.bias = nn.Parameter(torch.zeros(tokens, d_out))

    def forward(self, x):
        return torch.bmm(x.transpose(0, 1), self.weight).transpose(0, 1) + self.bias


class CompositeProjection(nn.Module):
    """recforge layers/composite_projection.rs: [B, L, d_in] -> flat [B, L*d_in] @ W [L*d_in, L*d_out] + b."""

    def __init__(self, tokens: int, d_in: int, d_out: int):
        super().__init__()
        self.d_out = d_out
        self.weight = kaiming_uniform((tokens * d_in, tokens * d_out), tokens * d_in)
        self.bias = nn.Parameter(torch.zeros(tokens * d_out))

    def forward(self, x):
        batch, tokens, _ = x.shape
        return (x.reshape(batch, -1) @ self.weight + self.bias).reshape(batch, tokens, self.d_out)


def attend(q, k, v, heads: int):
    """recforge layers/attention.rs: scaled dot-product attention, heads side by side."""
    batch, queries, width = q.shape
    keys, dk, dv = k.shape[1], width // heads, v.shape[2] // heads
    q = q.reshape(batch, queries, heads, dk).transpose(1, 2)
    k = k.reshape(batch, keys, heads, dk).transpose(1, 2)
    v = v.reshape(batch, keys, heads, dv).transpose(1, 2)
    scores = (q @ k.transpose(2, 3)) / math.sqrt(dk)
    return (torch.softmax(scores, dim=3) @ v).transpose(1, 2).reshape(batch, queries, heads * dv)


class HiformerLayer(nn.Module):
    """recforge layers/hetero_attention.rs with ProjectionKind::Composite: composite Q/K/V,
    feature-specific output projection and FFN, residual + LayerNorm after each."""

    def __init__(self, tokens: int, d: int, heads: int, d_head: int, d_ff: int):
        super().__init__()
        inner = heads * d_head
        self.heads = heads
        self.query = CompositeProjection(tokens, d, inner)
        self.key = CompositeProjection(tokens, d, inner)
        self.value = CompositeProjection(tokens, d, inner)
        self.output = TokenLinear(tokens, inner, d)
        self.ffn_in = TokenLinear(tokens, d, d_ff)
        self.ffn_out = TokenLinear(tokens, d_ff, d)
        self.norm_attention = nn.LayerNorm(d)
        self.norm_ffn = nn.LayerNorm(d)

    def forward(self, x):
        attended = attend(self.query(x), self.key(x), self.value(x), self.heads)
        h = self.norm_attention(x + self.output(attended))
        return self.norm_ffn(h + self.ffn_out(torch.relu(self.ffn_in(h))))


class Hiformer(nn.Module):
    """recforge ranking/hiformer.rs: [task tokens ‖ field embeddings ‖ numeric tokens] through
    Hiformer layers; the task tokens' outputs, flattened, through an MLP."""

    def __init__(self, cfg, num_fields: int, num_dense: int):
        super().__init__()
        d = cfg.get("embedding_dim", 16)
        self.t = max(cfg.get("task_tokens", 4), 1)
        self.task = nn.Parameter(torch.randn(self.t, d) * 0.01)
        self.numeric_weight = nn.Parameter(torch.randn(num_dense, d) * 0.01)
        self.numeric_bias = nn.Parameter(torch.zeros(num_dense, d))
        tokens = self.t + num_fields + num_dense
        self.layers = nn.ModuleList(
            HiformerLayer(tokens, d, cfg.get("heads", 2), cfg.get("d_head", 8), cfg.get("d_ff", 64))
            for _ in range(cfg.get("layers", 2))
        )
        self.head = mlp_block(self.t * d, cfg.get("hidden", [128]), 1, cfg.get("dropout", 0.0))

    def forward(self, fields, dense):
        batch, _, d = fields.shape
        numeric = dense.unsqueeze(2) * self.numeric_weight + self.numeric_bias
        x = torch.cat([self.task.unsqueeze(0).expand(batch, self.t, d), fields, numeric], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.head(x[:, : self.t].reshape(batch, self.t * d)).squeeze(1)


class LogisticRegression(nn.Module):
    """recforge ranking/lr.rs: logit = b + sum_f w_f[id_f] + w . x_dense; the per-id weights are
    width-1 embedding tables, the dense weights and bias one zero-initialised linear map."""

    def __init__(self, cfg, num_fields: int, num_dense: int):
        super().__init__()
        self.linear = nn.Linear(max(num_dense, 1), 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.has_dense = num_dense > 0

    def forward(self, fields, dense):
        x = dense if self.has_dense else torch.zeros(fields.shape[0], 1)
        return fields.sum(dim=(1, 2)) + self.linear(x).squeeze(1)


class AutoInt(nn.Module):
    """recforge ranking/autoint.rs: [field embeddings || numeric tokens] through interacting
    layers relu(attention(x) + W_res x) (Q/K/V and W_res without bias, no output projection),
    flattened into a linear logit; AutoInt+ adds a parallel MLP over the flat features."""

    def __init__(self, cfg, num_fields: int, num_dense: int):
        super().__init__()
        d = cfg.get("embedding_dim", 16)
        self.heads = cfg.get("heads", 2)
        inner = self.heads * cfg.get("d_head", 16)
        layers = cfg.get("layers", 3)
        widths = [d] + [inner] * (layers - 1) if layers > 0 else []
        self.numeric_weight = nn.Parameter(torch.randn(num_dense, d) * 0.01)
        self.numeric_bias = nn.Parameter(torch.zeros(num_dense, d))
        self.num_dense = num_dense
        projections = lambda: nn.ModuleList(nn.Linear(w, inner, bias=False) for w in widths)
        self.query, self.key, self.value, self.residual = projections(), projections(), projections(), projections()
        last = inner if layers > 0 else d
        self.head = nn.Linear((num_fields + num_dense) * last, 1)
        hidden = cfg.get("hidden", [])
        self.deep = mlp_block(num_fields * d + num_dense, hidden, 1, cfg.get("dropout", 0.0)) if hidden else None

    def forward(self, fields, dense):
        batch = fields.shape[0]
        x = fields
        if self.num_dense > 0:
            x = torch.cat([fields, dense.unsqueeze(2) * self.numeric_weight + self.numeric_bias], dim=1)
        for query, key, value, residual in zip(self.query, self.key, self.value, self.residual):
            x = torch.relu(attend(query(x), key(x), value(x), self.heads) + residual(x))
        logit = self.head(x.reshape(batch, -1)).squeeze(1)
        if self.deep is not None:
            logit = logit + self.deep(flat_features(fields, dense)).squeeze(1)
        return logit


MODELS = {"lr": LogisticRegression, "mlp": MlpRanker, "dcn_v2": DcnV2, "autoint": AutoInt, "hiformer": Hiformer}
# Embedding width of the kinds whose width is fixed rather than configured.
FIXED_EMBEDDING_DIM = {"lr": 1}


class Ranker(nn.Module):
    def __init__(self, cfg, features, num_dense: int, sparse: bool):
        super().__init__()
        kind = cfg["kind"]
        if kind == "hiformer" and (cfg.get("low_rank") or cfg.get("prune_last_layer")):
            raise SystemExit("bench_ranking.py: serving forms (low_rank, prune_last_layer) have no PyTorch reference")
        if kind not in MODELS:
            raise SystemExit(f"bench_ranking.py: no PyTorch reference for model kind {kind!r} (have {sorted(MODELS)})")
        dim = FIXED_EMBEDDING_DIM.get(kind, cfg.get("embedding_dim", 16))
        self.embedding = FieldEmbedding(features, dim, sparse)
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
        "dense_parameters": sum(p.numel() for p in model.model.parameters()),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
