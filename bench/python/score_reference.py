#!/usr/bin/env python3
"""Score rows with a recforge model folder using numpy + safetensors only.

The open-format proof for `recforge predict`: this script reads what a model folder
documents (docs/model-folder.md) -- encoder.json (schema, vocabularies, numeric statistics),
metadata.json (table layout) and model.safetensors (dense.* weights, embedding.* tables) --
and recomputes the click probability of every row of a CSV/TSV file for the LR, MLP and
DCN-v2 models. The workspace test `predict_cli` checks it matches `recforge predict` to 1e-5.

    python3 bench/python/score_reference.py RUN_DIR --data rows.csv --out reference.csv

Joined side tables and Parquet input are not supported here (recforge predict supports both).
"""

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

MASK64 = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


class Feature:
    """One schema feature with what the encoder fitted for it."""

    def __init__(self, spec, fitted):
        self.name = spec["name"]
        self.column = spec.get("column") or self.name
        self.kind = spec["kind"]
        self.fill = spec.get("fill")
        self.max_len = spec.get("max_len")
        self.normalize = spec.get("normalize", "zscore")
        if fitted["encoding"] == "tokens":
            self.separator = fitted["separator"]
            vocab = fitted["vocab"]
            self.buckets = vocab.get("hash_buckets")
            self.index = {t: i + 1 for i, t in enumerate(vocab.get("tokens", []))}
        else:
            self.stats = fitted["stats"]

    def token_id(self, token):
        if self.buckets is not None:
            return 1 + fnv1a64(token) % self.buckets
        return self.index.get(token, 0)

    def tokens(self, cell):
        text = (cell or "").strip()
        if not text:
            if self.fill is None:
                return []
            text = self.fill
        if self.kind == "categorical":
            return [text.strip()]
        tokens = [t.strip() for t in text.split(self.separator) if t.strip()]
        if self.max_len is not None:
            tokens = tokens[-self.max_len:] if self.kind == "sequence" else tokens[: self.max_len]
        return tokens

    def number(self, cell, where):
        text = (cell or "").strip()
        if not text:
            if self.fill is None:
                raise ValueError(f"{where}: feature {self.name}: missing value")
            text = self.fill
        x = float(text)
        if not math.isfinite(x):
            raise ValueError(f"{where}: feature {self.name}: not a finite number")
        s = self.stats
        if self.normalize == "log1p":
            x = math.log1p(x)
        if self.normalize in ("zscore", "log1p"):
            y = (x - s["mean"]) / (s["std"] if s["std"] > 0 else 1.0)
        elif self.normalize == "minmax":
            span = s["max"] - s["min"]
            y = (x - s["min"]) / span if span > 0 else 0.0
        else:
            y = x
        return np.float32(y)


def row_index(table, token_id):
    rows = table["rows"]
    if token_id < rows:
        return token_id
    if token_id == 0 or rows <= 1:
        return 0
    return 1 + mix64(token_id) % (rows - 1)


def linear(x, w, name):
    return x @ w[f"{name}.weight"].astype(np.float64) + w[f"{name}.bias"].astype(np.float64)


def mlp_hidden(x, w, prefix):
    i = 0
    while f"{prefix}.hidden.{i}.weight" in w:
        x = np.maximum(linear(x, w, f"{prefix}.hidden.{i}"), 0.0)
        i += 1
    return x


def cross(x0, w):
    x = x0
    layer = 0
    while f"dense.cross.layers.{layer}.up.weight" in w:
        inner = x
        down = f"dense.cross.layers.{layer}.down.weight"
        if down in w:
            inner = x @ w[down].astype(np.float64)
        x = x0 * linear(inner, w, f"dense.cross.layers.{layer}.up") + x
        layer += 1
    return x


def logits(kind, fields, dense, w):
    """fields: [B, F, d] pooled embeddings; dense: [B, N] normalised numbers."""
    size = fields.shape[0]
    flat = np.concatenate([fields.reshape(size, -1), dense], axis=1)
    if kind == "lr":
        x = dense if dense.shape[1] > 0 else np.zeros((size, 1))
        return fields.sum(axis=(1, 2)) + linear(x, w, "dense.linear")[:, 0]
    if kind == "mlp":
        return linear(mlp_hidden(flat, w, "dense.mlp"), w, "dense.mlp.output")[:, 0]
    if kind == "dcn_v2":
        crossed = cross(flat, w)
        if "dense.cross_head.weight" in w:  # parallel: w·Cross(x0) + MLP(x0)
            deep = mlp_hidden(flat, w, "dense.deep")
            return (linear(crossed, w, "dense.cross_head") + linear(deep, w, "dense.deep.output"))[:, 0]
        return linear(mlp_hidden(crossed, w, "dense.deep"), w, "dense.deep.output")[:, 0]
    raise SystemExit(f"model kind {kind!r}: the reference scores lr, mlp and dcn_v2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    metadata = json.loads((args.run_dir / "metadata.json").read_text())
    encoder = json.loads((args.run_dir / "encoder.json").read_text())
    weights = load_file(str(args.run_dir / "model.safetensors"))
    schema = encoder["schema"]
    if schema.get("joins"):
        raise SystemExit("the reference reads schemas without joins")
    features = [Feature(s, f) for s, f in zip(schema["features"], encoder["features"])]
    sparse = [f for f in features if f.kind != "numeric"]
    numeric = [f for f in features if f.kind == "numeric"]
    tables = metadata["tables"]
    assert [t["name"] for t in tables] == [f.name for f in sparse], "metadata tables follow the schema"
    assert metadata["dense"] == [f.name for f in numeric]
    dim = tables[0]["dim"] if tables else 1

    delimiter = schema["source"].get("delimiter") or ("\t" if args.data.suffix in (".tsv", ".txt") else ",")
    with open(args.data, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader)
        position = {name: i for i, name in enumerate(header)}
        id_column = schema.get("example_id")
        id_column = id_column if id_column in position else None
        ids, field_rows, dense_rows = [], [], []
        for number, cells in enumerate(reader):
            where = f"{args.data}:{number + 2}"
            cell = lambda column: cells[position[column]] if column in position and position[column] < len(cells) else ""
            pooled = np.zeros((len(sparse), dim))
            for f_index, (feature, table) in enumerate(zip(sparse, tables)):
                emb = weights[f"embedding.{feature.name}"]
                rows = [row_index(table, feature.token_id(t)) for t in feature.tokens(cell(feature.column))]
                if feature.kind == "categorical":
                    rows = rows[:1] or [0]
                if rows:
                    pooled[f_index] = emb[rows].astype(np.float64).mean(axis=0)
            field_rows.append(pooled)
            dense_rows.append([feature.number(cell(feature.column), where) for feature in numeric])
            ids.append(int(cell(id_column)) if id_column else number)
    fields = np.array(field_rows, dtype=np.float64).reshape(len(ids), len(sparse), dim)
    dense = np.array(dense_rows, dtype=np.float64).reshape(len(ids), len(numeric))
    scores = 1.0 / (1.0 + np.exp(-logits(metadata["model"], fields, dense, weights)))
    with open(args.out, "w", newline="") as out:
        out.write(f"{'example_id' if id_column else 'row'},score\n")
        for i, s in zip(ids, scores):
            out.write(f"{i},{s:.9g}\n")
    print(f"scored {len(ids)} rows with {metadata['model']} into {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
