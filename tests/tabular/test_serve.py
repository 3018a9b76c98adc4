"""`nasbeyond serve`'s app: a health route, predictions, and 413 / 422 with a message for
oversized bodies, missing columns, wrong types and bodies that are not JSON."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from nasbeyond.tabular.cli import fit_model_dir
from nasbeyond.tabular.serve import make_app
from tests.tabular._fixtures import table, teacher

ROW = {"a": 0.5, "b": -1.0, "c": "x"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve") / "model"
    fit_model_dir(table(), "y", out, time_limit=10, teacher=teacher(), max_depth=3)
    return out


@pytest.fixture(scope="module")
def client(model_dir):
    return TestClient(make_app(model_dir, max_body_bytes=2000))


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["columns"] == ["a", "b", "c"]
    assert body["classes"] == ["no", "yes"] and body["task"] == "binary"


def test_predict_gives_classes_and_probabilities(client):
    r = client.post("/predict", json={"rows": [ROW, {**ROW, "a": -3.0, "b": None}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == ["yes", "no"]
    assert all(abs(sum(p) - 1) < 1e-9 for p in body["probabilities"])


@pytest.mark.parametrize("model", ["tree", "mlp"])
def test_the_students_serve_too(model_dir, model):
    r = TestClient(make_app(model_dir, model=model)).post("/predict", json={"rows": [ROW]})
    assert r.status_code == 200 and r.json()["predictions"] == ["yes"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rows": [{"a": 0.5, "c": "x"}]}, "rows[0]: column 'b' missing"),
        ({"rows": [ROW, {**ROW, "a": "abc"}]}, "rows[1].a: 'abc' is not a number"),
        ({"rows": [{**ROW, "a": True}]}, "rows[0].a: True is not a number"),
        ({"rows": [{**ROW, "c": [1]}]}, "rows[0].c: [1] is not a value"),
        ({"rows": []}, "rows: empty"),
        ({"data": [ROW]}, 'body: expected a JSON object {"rows"'),
        ({"rows": [3]}, "rows[0]: expected an object"),
    ],
)
def test_bad_rows_get_422_with_a_message(client, body, message):
    r = client.post("/predict", json=body)
    assert r.status_code == 422
    assert r.json()["detail"].startswith(message), r.json()


def test_not_json_gets_422(client):
    r = client.post(
        "/predict", content=b"{rows: nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("body: not JSON")


def test_oversized_body_gets_413(client):
    big = json.dumps({"rows": [ROW] * 100}).encode()
    assert len(big) > 2000
    r = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "allowed at most 2000" in r.json()["detail"]

    def chunks():  # no content-length: the size is counted while reading
        yield big[:1500]
        yield big[1500:]

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
