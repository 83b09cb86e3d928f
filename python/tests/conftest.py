"""Fixtures: a small synthetic CTR log written here (numpy only), its schema, the CLI binary
(for parity checks) and the fetched datasets (for the OBP and MiniLM tests).

The CLI is `$RECFORGE_BIN`, else `$CARGO_TARGET_DIR/debug/recforge`, else
`<repo>/target/debug/recforge`; the fetched data is `$RECFORGE_DATA`, else `<repo>/data`.
A test that needs either fails (never skips) when it is missing: run `scripts/test.sh`, which
builds and fetches both.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

SCHEMA = """
name = "pysynth"
example_id = "example_id"
user = "user_id"
item = "item_id"

[source]
path = "log.csv"
format = "csv"

[label]
column = "click"

[[features]]
name = "user_id"
kind = "categorical"

[[features]]
name = "item_id"
kind = "categorical"

[[features]]
name = "category"
kind = "categorical"

[[features]]
name = "price"
kind = "numeric"
normalize = "zscore"

[split]
method = "random"
valid = 0.1
test = 0.1
seed = 3
"""


def write_log(path: Path, rows: int, seed: int) -> None:
    """click ~ Bernoulli(sigmoid(user bias + item bias + 0.8·zscore(price) − 0.5))."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 60, rows)
    items = rng.zipf(1.3, rows) % 120
    price = rng.gamma(2.0, 10.0, rows)
    user_bias = np.random.default_rng(99).normal(0, 1.0, 60)
    item_bias = np.random.default_rng(98).normal(0, 1.0, 120)
    logit = user_bias[users] + item_bias[items] + 0.8 * (price - price.mean()) / price.std() - 0.5
    click = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    with path.open("w") as out:
        out.write("example_id,user_id,item_id,category,price,click\n")
        for i in range(rows):
            out.write(f"{i},u{users[i]},i{items[i]},c{items[i] % 7},{price[i]:.2f},{click[i]}\n")


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    """A folder with log.csv (4,000 rows), fresh.csv (500 new rows, some unseen ids) and
    schema.toml."""
    folder = tmp_path_factory.mktemp("synth")
    write_log(folder / "log.csv", 4000, seed=1)
    write_log(folder / "fresh.csv", 500, seed=2)
    (folder / "schema.toml").write_text(SCHEMA)
    return folder


@pytest.fixture(scope="session")
def trained(synth, tmp_path_factory):
    """An MLP trained once for the session (3 epochs)."""
    import recforge

    config = {
        "name": "py-mlp",
        "data": {"schema": str(synth / "schema.toml")},
        "model": {"kind": "mlp", "embedding_dim": 8, "hidden": [32]},
        "train": {"epochs": 3, "batch_size": 256, "lr": 0.003, "patience": 0},
    }
    out = tmp_path_factory.mktemp("runs") / "mlp"
    return recforge.train(config, seed=1, out=out, progress=False)


@pytest.fixture(scope="session")
def recforge_bin() -> Path:
    explicit = os.environ.get("RECFORGE_BIN")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = Path(explicit) if explicit else target / "debug" / "recforge"
    if not path.is_file():
        pytest.fail(f"the recforge CLI is not at {path}: build it (cargo build) or set RECFORGE_BIN")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return Path(os.environ.get("RECFORGE_DATA", REPO / "data"))
