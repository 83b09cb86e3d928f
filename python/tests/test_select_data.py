"""Data selection on texts in memory, and data inspection/preparation as pyarrow tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

import recforge

CORPUS = [
    "The committee approved the annual budget after a long debate on school funding.",
    "WIN A FREE PRIZE NOW!!! click here click here click here",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The river flooded the valley after three days of heavy rain.",
    "buy cheap pills online buy cheap pills online buy cheap pills",
    "Researchers measured the speed of sound in helium at several temperatures.",
    "The novel follows a family across three generations in a small fishing town.",
    "Congratulations you have been selected claim your reward today",
    "The violin concerto was first performed in Leipzig in 1845.",
    "Glaciers store about two thirds of the fresh water on Earth.",
]


def test_random_selection_keeps_the_fraction_and_is_seeded():
    kept = recforge.select(CORPUS, sampler="random", keep=0.3, seed=4, progress=False)
    assert len(kept) == 3 and kept == sorted(kept) and all(0 <= i < len(CORPUS) for i in kept)
    assert recforge.select(CORPUS, sampler="random", keep=0.3, seed=4, progress=False) == kept


def test_density_selection_with_minilm_and_a_cache(tmp_path, data_dir):
    encoder = data_dir / "models" / "all-minilm-l6-v2"
    if not encoder.is_dir():
        pytest.fail(f"MiniLM is not at {encoder}: run scripts/fetch-data.sh --only minilm")
    cache = tmp_path / "features.redb"
    kept, scores = recforge.select(CORPUS, sampler="density", keep=0.5, cache=cache, encoder=encoder, mode="topk", progress=False, return_scores=True)
    assert len(kept) == 5 and len(scores) == len(CORPUS)
    assert cache.is_file()
    again = recforge.select(CORPUS, sampler="density", keep=0.5, cache=cache, encoder=encoder, mode="topk", progress=False)
    assert again == kept


def test_unknown_sampler_is_an_error():
    with pytest.raises(recforge.RecforgeError, match="unknown sampler"):
        recforge.select(CORPUS, sampler="oracle")


def test_inspect_profiles_every_column(synth):
    table = recforge.data.inspect(synth / "log.csv")
    assert isinstance(table, pa.Table)
    rows = {r["name"]: r for r in table.to_pylist()}
    assert set(rows) == {"example_id", "user_id", "item_id", "category", "price", "click"}
    assert rows["category"]["inferred"] == "categorical" and rows["category"]["distinct"] == 7
    assert rows["price"]["inferred"] == "float"
    assert table.schema.metadata[b"rows"] == b"4000"


def test_prepare_returns_split_tables_with_encoded_columns(synth):
    prepared = recforge.data.prepare(synth / "schema.toml", progress=False)
    total = prepared.train.num_rows + prepared.valid.num_rows + prepared.test.num_rows
    assert total == 4000
    assert 350 <= prepared.test.num_rows <= 450
    assert prepared.train.schema.field("user_id").type == pa.uint32()
    assert prepared.train.schema.field("price").type == pa.float32()
    assert "__label" in prepared.train.column_names
    # 60 users plus the OOV row 0.
    assert prepared.cardinalities["user_id"] == 61
    ids = prepared.train.column("user_id").to_numpy()
    assert ids.min() >= 1 and ids.max() <= 60
