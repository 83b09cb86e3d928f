"""An in-process server driven by the bandit client; the ranker route against predict()."""

from __future__ import annotations

import numpy as np
import pytest

import recforge
from recforge.bandit import Client, ServiceError


@pytest.fixture()
def bandit_server(tmp_path):
    config = {"items": 20, "clusters": 4, "k": 3, "token": "write-secret", "store": f"file://{tmp_path / 'state'}"}
    with recforge.serve(config) as server:
        yield server


def test_recommend_then_feedback_round_trip(bandit_server):
    client = Client(bandit_server.url, token="write-secret")
    assert client.health()["status"] == "ok"
    answer = client.recommend(context=[(0, 0.6), (2, 0.8)], k=3)
    assert len(answer["items"]) == 3
    item = answer["items"][0]["item"]
    assert client.feedback(answer["request_id"], item, 1.0) == {"applied": True, "duplicate": False}
    assert client.feedback(answer["request_id"], item, 1.0) == {"applied": False, "duplicate": True}


def test_service_errors_carry_status_and_message(bandit_server):
    client = Client(bandit_server.url, token="wrong")
    answer = client.recommend(context=[(1, 1.0)])
    with pytest.raises(ServiceError) as error:
        client.feedback(answer["request_id"], answer["items"][0]["item"], 1.0)
    assert error.value.status == 403
    with pytest.raises(ServiceError) as error:
        client.recommend(context=[(1, 1.0), (1, 2.0)])
    assert error.value.status == 422 and "repeated" in error.value.message


def test_a_bad_config_is_an_error_before_serving(tmp_path):
    with pytest.raises(recforge.RecforgeError, match="policy"):
        recforge.serve({"items": 5, "clusters": 2, "token": "t", "policy": "oracle", "store": f"file://{tmp_path}"})


def test_the_ranker_route_scores_like_predict(trained):
    rows = [{"user_id": "u3", "item_id": "i5", "category": "c5", "price": 20.0}, {"user_id": "u8", "item_id": "i1", "category": "c1", "price": 5.5}]
    with recforge.serve(ranker=trained.path) as server:
        answer = Client(server.url).score(rows)
    expected = trained.predict({key: [row[key] for row in rows] for key in rows[0]})
    np.testing.assert_allclose(answer["scores"], expected, atol=1e-6)
