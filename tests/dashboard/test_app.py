"""The dashboard's JSON API and server: what it reads, what it refuses, that it never writes."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import sys
import threading
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from nasbeyond.cli import main  # noqa: E402
from nasbeyond.dashboard import listen, open_runs  # noqa: E402
from nasbeyond.dashboard.app import make_app  # noqa: E402
from nasbeyond.exceptions import ConfigError  # noqa: E402
from nasbeyond.run.store import SQLiteStore  # noqa: E402
from nasbeyond.trial import Result  # noqa: E402
from tests.dashboard.stores import big_run, small_run  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash")
    return small_run(root / "small"), big_run(root / "big")


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(make_app(open_runs(runs)), raise_server_exceptions=False)


def test_runs_are_numbered_and_summarised(client):
    body = client.get("/api/runs").json()
    assert [(r["id"], r["name"]) for r in body] == [(0, "small"), (1, "big")]
    small = body[0]
    assert (small["trials"], small["ok"], small["failed"]) == (6, 5, 1)
    assert small["best"] == {"id": 5, "reward": 0.9} and small["final"] is None
    assert body[1]["trials"] == 10_000 and body[1]["failed"] == 200


def test_best_so_far_curve_steps_at_improvements(client):
    c = client.get("/api/runs/0/curve").json()
    assert c["trial"] == [1, 2, 5, 6] and c["best"] == [0.5, 0.7, 0.9, 0.9]
    assert c["cost_s"] == [10.0, 30.0, 121.0, 181.0]  # 10+20+1 (failed)+40+50, then +60
    assert c["points"] == {"trial": [1, 2, 4, 5, 6], "reward": [0.5, 0.7, 0.6, 0.9, 0.8]}


def test_trials_table_sorts_filters_and_pages(client):
    page = client.get("/api/runs/0/trials?sort=reward&order=desc&limit=2").json()
    assert page["total"] == 6 and [r["id"] for r in page["rows"]] == [5, 6]
    nulls_last = client.get("/api/runs/0/trials?sort=reward&order=asc").json()["rows"]
    assert [r["id"] for r in nulls_last] == [1, 4, 2, 6, 5, 3]
    failed = client.get("/api/runs/0/trials?status=failed").json()
    assert [r["id"] for r in failed["rows"]] == [3] and failed["rows"][0]["error"] == (
        "RuntimeError: boom"
    )
    last = client.get("/api/runs/1/trials?offset=9990&limit=50&sort=id&order=asc").json()
    assert last["total"] == 10_000 and [r["id"] for r in last["rows"]] == list(range(9991, 10001))


def test_trial_detail_has_metrics_error_log_and_drawing(client):
    t = client.get("/api/runs/0/trials/5").json()
    assert t["reward"] == 0.9 and t["metrics"]["val_acc"] == 0.9 and t["undrawable"] is None
    assert t["log"] == ["epoch 1 loss 2.30", "epoch 2 loss 1.70"] and "log" not in t["metrics"]
    assert "edges" in t["arch"] and t["summary"].startswith("|")
    failed = client.get("/api/runs/0/trials/3").json()
    assert failed["status"] == "failed" and "Traceback" in failed["error"]
    svg = client.get("/api/runs/0/trials/5/arch.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and "trial 5" in svg.text


def test_large_run_is_cut_down_server_side(client, runs):
    c = client.get("/api/runs/1/curve?points=400").json()
    assert len(c["points"]["trial"]) <= 400 and c["finished"] == 10_000
    assert c["trial"][-1] == 10_000  # the curve runs to the last trial
    s = client.get("/api/runs/1/scatter?x=params&points=300").json()
    assert s["total"] == 9_800 and len(s["trial"]) <= 300
    assert set(s["front"]["trial"]) <= set(s["trial"]) and 0 < s["hypervolume"] <= 1
    assert max(s["reward"]) == max(s["front"]["reward"])  # the best trial is on the front
    imp = open_runs([runs[1]])[0].importance(max_trials=60)  # the endpoint caps it at 500
    assert imp["trials"] == 60 and sorted(imp["names"]) == [f"edges.{i}" for i in range(6)]
    assert abs(sum(imp["values"]) - 1) < 1e-6


def test_importance_endpoint(client):
    imp = client.get("/api/runs/0/importance").json()
    assert imp["trials"] == 5 and imp["names"] and not imp["stale"]
    assert "random forest" in imp["method"]


def test_compare_overlays_every_run(client):
    body = client.get("/api/compare").json()
    assert [c["name"] for c in body] == ["small", "big"]
    assert all(c["best"] == sorted(c["best"]) for c in body)  # best so far never drops


HOSTILE = [
    ("/static/../../../etc/passwd", 404),
    ("/static/..%2F..%2F..%2Fetc%2Fpasswd", 404),
    ("/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404),
    ("/static/nasbeyond.db", 404),
    ("/static/index.html", 404),  # the page template is served only at /
    ("/api/runs/2", 404),
    ("/api/runs/-1", 404),
    ("/api/runs/..%2F..%2Fetc", 404),
    ("/api/runs/%2Fetc%2Fpasswd/trials", 404),
    ("/api/runs/abc", 422),
    ("/api/runs/0/trials/999999", 404),
    ("/api/runs/0/trials/0", 404),
    ("/api/runs/0/trials/1.5", 422),
    ("/api/runs/0/trials/%27%20OR%201%3D1", 422),
    ("/api/runs/0/trials?sort=id;DROP%20TABLE%20trials", 422),
    ("/api/runs/0/trials?limit=100000", 422),
    ("/api/runs/0/trials?offset=-1", 422),
    ("/api/runs/0/trials?status=evil", 422),
    ("/api/runs/0/scatter?x=metrics", 422),
    ("/api/runs/0/curve?points=99999999999999999999999", 422),
    ("/api/runs/0/trials/99999999999999999999999", 404),
    ("/api/runs/0/trials/99999999999999999999999/arch.svg", 404),
    ("/api/runs/99999999999999999999999/trials", 404),
]


@pytest.mark.parametrize(("path", "status"), HOSTILE)
def test_hostile_requests_get_one_line_and_no_file(client, path, status):
    r = client.get(path)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert "root:" not in r.text


def test_raw_traversal_over_a_socket_reaches_no_file(runs):
    """httpx normalises ``..`` before sending; a raw request keeps it, as an attacker would."""
    import uvicorn

    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(make_app(open_runs(runs)), log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for target in ("/static/../../../../etc/passwd", "/../../etc/passwd", "/static/..\\..\\x"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                head = s.recv(65536).decode(errors="replace")
            assert head.split()[1] in ("400", "404"), head
            assert "root:" not in head
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_loopback_dashboard_refuses_other_host_headers(runs):
    c = TestClient(make_app(open_runs(runs), allowed_hosts=["127.0.0.1", "localhost"]))
    assert c.get("/api/runs", headers={"host": "evil.example"}).status_code == 400
    assert c.get("/api/runs", headers={"host": "127.0.0.1:8050"}).status_code == 200


def test_page_and_plotly_come_from_the_package(client):
    page = client.get("/")
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    assert "script-src 'self'" in page.headers["content-security-policy"]
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and b"plotly" in js.content[:2000].lower()


def test_reads_never_write_and_never_block_the_writer(runs, tmp_path):
    run = small_run(tmp_path / "live")
    db = run / "nasbeyond.db"
    source = open_runs([run])[0]
    c = TestClient(make_app([source]))
    version = c.get("/api/runs/0").json()["version"]
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for path in ("/api/runs", "/api/runs/0/curve", "/api/runs/0/trials", "/api/runs/0/trials/1"):
        assert c.get(path).status_code == 200
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with source.connect() as con:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            con.execute("DELETE FROM trials")
        con.execute("BEGIN")  # a reader holding a snapshot open ...
        con.execute("SELECT COUNT(*) FROM trials").fetchone()
        writer = SQLiteStore(run, create=False)  # ... does not stop the search's writes
        tid = writer.start_trial({"edges": ["none"] * 6}, None, dict)
        writer.finish_trial(tid, Result("ok", 0.95, {}, 1.0), dict)
        writer.close()
    after = c.get("/api/runs/0").json()
    assert after["version"] != version and after["best"] == {"id": tid, "reward": 0.95}


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["dashboard", "/no/such/run"], "run_dir: /no/such/run does not exist"),
        (["dashboard", "RUN", "--port", "70000"], "port: 70000; allowed: 0..65535"),
        (["dashboard", "RUN", "--port", "http"], "argument --port: invalid int value"),
        (["dashboard", "RUN", "--host", "no-such-host.invalid"], "host: 'no-such-host.invalid'"),
        (["dashboard", "RUN", "RUN"], "is given twice"),
        (["dashboard"], "the following arguments are required: RUN_DIR"),
    ],
)
def test_cli_bad_flags_one_line_exit_2(runs, capsys, argv, field):
    argv = [str(runs[0]) if a == "RUN" else a for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and field in err and len(err.splitlines()) == 1, err


def test_cli_port_in_use_is_one_line(runs, capsys):
    taken = listen("127.0.0.1", 0)
    try:
        code = main(["dashboard", str(runs[0]), "--port", str(taken.getsockname()[1])])
    finally:
        taken.close()
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("nasbeyond: error: port: cannot listen on 127.0.0.1")


def test_missing_extra_names_it(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(ConfigError, match=r"pip install nasbeyond\[dashboard\]"):
        make_app(open_runs(runs))


def test_run_dir_is_not_a_database(tmp_path):
    (tmp_path / "nasbeyond.db").write_text("not sqlite " * 100)
    with pytest.raises(ConfigError, match="not a readable nasbeyond database"):
        open_runs([tmp_path])


def test_db_name_matches_the_store():
    from nasbeyond.dashboard.runs import DB_NAME
    from nasbeyond.run.store import DB_NAME as STORE_DB_NAME

    assert DB_NAME == STORE_DB_NAME


def test_cli_check_validates_without_serving(runs, capsys):
    assert main(["dashboard", str(runs[0]), "--port", "0", "--check"]) == 0
    assert capsys.readouterr().out.strip() == "ok: would serve 0: small (6 trials) on 127.0.0.1:0"


def test_arch_the_space_refuses_is_not_drawn_and_a_lost_store_is_503(tmp_path):
    run = small_run(tmp_path / "odd")
    store = SQLiteStore(run, create=False)
    tid = store.start_trial({"edges": ["<b>no_such_op</b>"] * 6}, None, dict)
    store.finish_trial(tid, Result.failed("boom"), dict)
    store.close()
    c = TestClient(make_app(open_runs([run])), raise_server_exceptions=False)
    t = c.get(f"/api/runs/0/trials/{tid}").json()
    assert t["undrawable"].startswith("the run's space does not accept this arch")
    assert "<b>no_such_op</b>" in t["summary"]  # as text: the page sets it as text
    assert c.get(f"/api/runs/0/trials/{tid}/arch.svg").status_code == 404
    for f in run.glob("nasbeyond.db*"):
        f.unlink()
    r = c.get("/api/runs/0")
    assert r.status_code == 503 and r.json()["detail"].startswith("store: cannot read the run")


ROUTES = [
    "/api/runs/{a}",
    "/api/runs/{a}/curve",
    "/api/runs/{a}/trials",
    "/api/runs/{a}/scatter",
    "/api/runs/{a}/parallel",
    "/api/runs/{a}/trials/{b}",
    "/api/runs/{a}/trials/{b}/arch.svg",
    "/static/{a}",
    "/api/compare",
]
PARAMS = ["points", "offset", "limit", "sort", "order", "status", "x", "lines"]


@settings(max_examples=100, deadline=None)
@given(
    route=st.sampled_from(ROUTES),
    a=st.one_of(st.integers(-3, 12), st.text(max_size=12)),
    b=st.one_of(st.integers(-3, 2**64), st.text(max_size=12)),
    query=st.dictionaries(
        st.sampled_from(PARAMS), st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=8))
    ),
)
def test_fuzzed_requests_are_answered_in_one_line(client, route, a, b, query):
    path = route.format(a=quote(str(a), safe=""), b=quote(str(b), safe=""))
    r = client.get(path, params={k: str(v) for k, v in query.items()})
    assert r.status_code in (200, 404, 422), (path, query, r.text)
    if r.status_code != 200:
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail


def test_non_finite_metrics_travel_as_null(tmp_path):
    """An evaluator may store NaN or infinity in a trial's metrics; strict JSON cannot carry
    them, so the API sends null instead of failing the request."""
    run_dir = small_run(tmp_path / "odd")
    store = SQLiteStore(run_dir)
    arch = store.trials("ok")[0].arch
    tid = store.start_trial(arch, None, dict)
    metrics = {"latency_ms": float("inf"), "val_acc": float("nan"), "params": 5}
    store.finish_trial(tid, Result("ok", 0.95, metrics, cost_s=1.0), dict)
    store.close()
    client = TestClient(make_app(open_runs([run_dir])), raise_server_exceptions=False)
    t = client.get(f"/api/runs/0/trials/{tid}")
    assert t.status_code == 200, t.text
    assert t.json()["metrics"] == {"latency_ms": None, "val_acc": None, "params": 5}
    for path in ("/api/runs", "/api/runs/0/scatter?x=latency_ms", "/api/runs/0/trials"):
        assert client.get(path).status_code == 200, path
