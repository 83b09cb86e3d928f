"""Every error path surfaces as RecforgeError with the CLI's message (file, line, field)."""

from __future__ import annotations

import pytest

import recforge


def test_a_config_with_an_unknown_key_names_the_file(synth, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(f'[data]\nschema = "{synth / "schema.toml"}"\n[model]\nkind = "mlp"\nhiden = [4]\n')
    with pytest.raises(recforge.RecforgeError, match=r"(?s)bad\.toml.*hiden"):
        recforge.train(config, out=tmp_path / "never", progress=False)


def test_a_missing_config_file_names_it(tmp_path):
    with pytest.raises(recforge.RecforgeError, match="nowhere.toml"):
        recforge.train(tmp_path / "nowhere.toml", progress=False)


def test_a_bad_row_names_file_line_and_field(trained, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("example_id,user_id,item_id,category,price\n0,u1,i1,c1,3.5\n1,u2,i2,c2,cheap\n")
    with pytest.raises(recforge.RecforgeError, match=r"bad\.csv.*line 3.*price|bad\.csv:3.*price"):
        trained.predict(bad)
    ids, scores = trained.predict(bad, skip_bad_rows=True, with_ids=True)
    assert ids.tolist() == [0] and scores.shape == (1,)


def test_a_table_without_a_feature_column_is_an_error_naming_it(trained):
    with pytest.raises(recforge.RecforgeError, match="price"):
        trained.predict({"user_id": ["u1"], "item_id": ["i1"], "category": ["c1"]})


def test_loading_something_that_is_not_a_model_folder(tmp_path):
    with pytest.raises(recforge.RecforgeError, match="not a model folder"):
        recforge.Run.load(tmp_path)


def test_evaluate_without_labels_says_what_to_do(trained):
    with pytest.raises(recforge.RecforgeError, match="label column"):
        trained.evaluate({"user_id": ["u1"], "item_id": ["i1"], "category": ["c1"], "price": [1.0]})


def test_unsupported_input_types_are_type_errors(trained):
    with pytest.raises(TypeError, match="cannot read rows"):
        trained.predict(42)
