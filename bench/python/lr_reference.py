"""Logistic regression on the split recforge wrote, fitted to its optimum by scikit-learn.

The reference for "is recforge's LR trained to its optimum": the same rows, the same features
(one-hot categories, z-scored numerics with training-split statistics), the same train/valid/
test assignment (`recforge data export-split`), solved by L-BFGS to convergence. Prints one
table with recforge's test AUC beside scikit-learn's and writes it as JSON.

    python bench/python/lr_reference.py --data data/tabular/adult/adult.data \
        --schema configs/data/adult.toml --split runs/lr-parity/split.csv \
        --recforge runs/lr-parity/recforge-lr/metrics.json --out runs/lr-parity/parity.json

Needs numpy and scikit-learn (bench/lr-parity.sh makes a venv with them).
"""

import argparse
import csv
import json
import sys
import time
import tomllib

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score


def read_rows(path, header):
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    return rows[1:] if header else rows


def column_index(name, header_row):
    if header_row is not None:
        return header_row.index(name)
    if not name.startswith("column_"):
        sys.exit(f"{name}: a header-less file names its columns column_1, column_2, ...")
    return int(name.split("_", 1)[1]) - 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the schema's source file")
    p.add_argument("--schema", required=True, help="the recforge data schema TOML")
    p.add_argument("--split", required=True, help="row,part CSV from `recforge data export-split`")
    p.add_argument("--recforge", help="metrics.json of the recforge LR run, shown beside")
    p.add_argument("--out", help="write the table as JSON here")
    args = p.parse_args()

    with open(args.schema, "rb") as f:
        schema = tomllib.load(f)
    header = schema["source"].get("header", True)
    rows = read_rows(args.data, header)
    header_row = None
    if header:
        with open(args.data, newline="", encoding="utf-8") as f:
            header_row = [c.strip() for c in next(csv.reader(f))]
    with open(args.split, newline="") as f:
        parts = [r["part"] for r in csv.DictReader(f)]
    if len(parts) != len(rows):
        sys.exit(f"{args.split} has {len(parts)} rows but {args.data} has {len(rows)}: not the same data")
    parts = np.array(parts)
    train, valid, test = (parts == "train"), (parts == "valid"), (parts == "test")

    label = schema["label"]
    li = column_index(label["column"], header_row)
    if "positive" in label:
        positive = {v.strip() for v in label["positive"]}
        y = np.array([1.0 if r[li].strip() in positive else 0.0 for r in rows])
    else:
        t = label.get("threshold")
        y = np.array([float(r[li]) >= t if t is not None else float(r[li]) for r in rows], dtype=float)

    blocks = []
    for feature in schema["features"]:
        ci = column_index(feature.get("column", feature["name"]), header_row)
        cells = [r[ci].strip() for r in rows]
        if feature["kind"] == "numeric":
            x = np.array([float(c) if c else np.nan for c in cells])
            mean, std = np.nanmean(x[train]), np.nanstd(x[train])
            x = np.nan_to_num((x - mean) / (std if std > 0 else 1.0))
            blocks.append(x[:, None])
        elif feature["kind"] == "categorical":
            vocab = sorted({c for c, t in zip(cells, train) if t})
            index = {v: i for i, v in enumerate(vocab)}
            onehot = np.zeros((len(cells), len(vocab)))
            for row, c in enumerate(cells):
                if c in index:
                    onehot[row, index[c]] = 1.0
            blocks.append(onehot)
        else:
            sys.exit(f"feature {feature['name']}: kind {feature['kind']} is not handled by this reference")
    x = np.hstack(blocks)

    table = []
    for name, c in [("scikit-learn, no penalty", None), ("scikit-learn, L2 C=1", 1.0)]:
        started = time.perf_counter()
        model = LogisticRegression(C=np.inf if c is None else c, solver="lbfgs", max_iter=20000, tol=1e-8)
        model.fit(x[train], y[train])
        seconds = time.perf_counter() - started
        prob = model.predict_proba(x[test])[:, 1]
        table.append({"model": name, "test_auc": roc_auc_score(y[test], prob), "test_logloss": log_loss(y[test], prob), "seconds": seconds, "iterations": int(model.n_iter_[0])})
    if args.recforge:
        with open(args.recforge) as f:
            m = json.load(f)
        table.append({"model": "recforge lr", "test_auc": m["auc"], "test_logloss": m["logloss"], "seconds": m.get("train_seconds"), "iterations": m.get("epochs_run")})

    print(f"{int(train.sum())} train / {int(valid.sum())} valid / {int(test.sum())} test rows, {x.shape[1]} columns after one-hot")
    print(f"{'model':<28} {'test AUC':>9} {'logloss':>9} {'seconds':>9}")
    for r in table:
        secs = f"{r['seconds']:.1f}" if r["seconds"] is not None else "-"
        print(f"{r['model']:<28} {r['test_auc']:>9.4f} {r['test_logloss']:>9.4f} {secs:>9}")
    if args.recforge:
        gap = table[0]["test_auc"] - table[-1]["test_auc"]
        print(f"AUC gap (no-penalty optimum − recforge): {gap:+.4f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": int(len(rows)), "columns": int(x.shape[1]), "table": table}, f, indent=2)


if __name__ == "__main__":
    main()
