"""The dashboard's parallel-coordinates endpoint: decision columns, option labels, the cap on
lines, the run's objectives as axes, and bad requests."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from nasbeyond.dashboard import open_runs  # noqa: E402
from nasbeyond.dashboard.app import make_app  # noqa: E402
from nasbeyond.dashboard.runs import PARALLEL_AXES  # noqa: E402
from nasbeyond.report.runinfo import flatten_arch  # noqa: E402
from nasbeyond.run.store import SQLiteStore  # noqa: E402
from nasbeyond.trial import Result  # noqa: E402
from tests.dashboard.stores import big_run, nb201_config, small_run  # noqa: E402

MARKUP = "<img src=x onerror=alert(1)>"


def wide_run(run_dir, decisions: int = 40, trials: int = 12):
    """``trials`` ok trials of archs with ``decisions`` two-valued decisions; the reward
    follows d0 and d1 only; one of d1's two options is markup."""
    store = SQLiteStore(run_dir)
    store.put("config", nb201_config(run_dir, trials))
    rng = random.Random(0)
    for i in range(trials):
        arch = {f"d{j}": rng.choice(["a", "b"]) for j in range(decisions)}
        arch["d0"], arch["d1"] = ("a", "b")[i % 2], ("a", MARKUP)[(i // 2) % 2]
        reward = 0.5 + 0.3 * (arch["d0"] == "b") + 0.1 * (arch["d1"] == MARKUP) + 0.001 * i
        tid = store.start_trial(arch, None, dict)
        store.finish_trial(tid, Result("ok", reward, {}, 1.0), dict)
    store.close()
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel")
    small, big = small_run(root / "small"), big_run(root / "big", n=3000)
    multi = small_run(root / "multi")
    store = SQLiteStore(multi, create=False)
    store.put("config", {**nb201_config(multi, 6), "objectives": "accuracy,params,latency"})
    store.close()
    return small, big, multi, wide_run(root / "wide")


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(make_app(open_runs(runs)), raise_server_exceptions=False)


def test_one_axis_per_varying_decision_then_reward(client):
    d = client.get("/api/runs/0/parallel").json()
    assert [c["label"] for c in d["dimensions"]] == [f"edges.{i}" for i in range(6)] + ["reward"]
    assert [c["kind"] for c in d["dimensions"]] == ["decision"] * 6 + ["reward"]
    assert (d["total"], d["shown"], d["lines"], d["varying"]) == (5, 5, 2000, 6)
    assert d["trial"] == [1, 4, 2, 6, 5]  # ok trials only (3 failed), best last (drawn on top)
    assert d["dimensions"][-1]["values"] == [0.5, 0.6, 0.7, 0.8, 0.9]
    for c in d["dimensions"][:-1]:  # option labels: sorted texts, values are codes into them
        assert c["labels"] == sorted(set(c["labels"]))
        for tid, code in zip(d["trial"], c["values"], strict=True):
            arch = client.get(f"/api/runs/0/trials/{tid}").json()["arch"]
            assert c["labels"][int(code)] == flatten_arch(arch)[c["label"]]


def test_large_run_sends_the_best_lines_only(client):
    d = client.get("/api/runs/1/parallel?lines=100").json()
    assert (d["total"], d["shown"], len(d["trial"])) == (2940, 100, 100)
    rewards = d["dimensions"][-1]["values"]
    assert rewards == sorted(rewards) and all(len(c["values"]) == 100 for c in d["dimensions"])
    best = client.get("/api/runs/1/trials?sort=reward&order=desc&limit=100&status=ok").json()
    assert set(d["trial"]) == {r["id"] for r in best["rows"]}
    assert client.get("/api/runs/1/parallel").json()["shown"] == 2000  # the default cap


def test_objectives_are_axes_before_the_reward(client):
    d = client.get("/api/runs/2/parallel").json()
    labels = [c["label"] for c in d["dimensions"]]
    assert labels[-3:] == ["val_acc (max)", "params (min)", "reward"]
    assert [c["kind"] for c in d["dimensions"][-3:]] == ["objective", "objective", "reward"]
    assert d["dimensions"][-3]["values"] == d["dimensions"][-1]["values"]  # val_acc == reward
    assert d["notes"] == ["objective latency_ms: not reported by every trial drawn, no axis"]


def test_many_decisions_keep_the_most_important_and_store_text_stays_text(client):
    d = client.get("/api/runs/3/parallel").json()
    decisions = [c for c in d["dimensions"] if c["kind"] == "decision"]
    assert d["varying"] > PARALLEL_AXES == len(decisions)
    assert {"d0", "d1"} <= {c["label"] for c in decisions[:5]}  # the reward's two causes
    assert d["notes"][0].startswith(f"{PARALLEL_AXES} of the {d['varying']} decisions")
    d1 = next(c for c in decisions if c["label"] == "d1")
    assert d1["labels"] == [MARKUP, "a"]  # markup is an option label, sent as text


def test_nothing_to_draw_without_a_varying_decision(tmp_path):
    store = SQLiteStore(tmp_path)
    store.put("config", nb201_config(tmp_path, 2))
    tid = store.start_trial({"edges": ["none"] * 6}, None, dict)
    store.finish_trial(tid, Result("ok", 0.5, {}, 1.0), dict)
    store.close()
    c = TestClient(make_app(open_runs([tmp_path])))
    d = c.get("/api/runs/0/parallel").json()
    assert (d["dimensions"], d["trial"], d["total"], d["varying"]) == ([], [1], 1, 0)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/runs/4/parallel", 404),
        ("/api/runs/-1/parallel", 404),
        ("/api/runs/99999999999999999999999/parallel", 404),
        ("/api/runs/abc/parallel", 422),
        ("/api/runs/..%2Fsmall/parallel", 404),
        ("/api/runs/0/parallel?lines=1", 422),
        ("/api/runs/0/parallel?lines=5001", 422),
        ("/api/runs/0/parallel?lines=2000;DROP%20TABLE%20trials", 422),
    ],
)
def test_bad_requests_are_one_line(client, path, status):
    r = client.get(path)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail


def test_reading_never_writes(runs, client):
    db = runs[0] / "nasbeyond.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    body = client.get("/api/runs/0/parallel").content
    assert json.loads(body)["shown"] == 5
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_page_scripts_stay_own_origin_only(client):
    """Plotly's parcoords needs eval (regl compiles its draw calls); nothing else is allowed:
    no inline script, no other origin."""
    csp = client.get("/").headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["script-src"] == ["'self'", "'unsafe-eval'"]
    assert directives["default-src"] == ["'none'"] and directives["base-uri"] == ["'none'"]
