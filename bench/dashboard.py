"""The live dashboard on large runs: what opening a run's page and one poll cost the server,
ours (`nasbeyond dashboard`) beside optuna-dashboard on the same trials.

Both servers get the same N trials (NB201 cells: 6 categorical decisions of 5 ops, a random
reward; every 50th trial failed), ours in a run directory's SQLite store, optuna-dashboard's
in Optuna's in-memory storage (writing 1,000 trials to Optuna's SQLite storage took 71 s here,
so 10,000 would take over 10 minutes; memory also spares it every disk read). Each side's
requests are called in this process, ours through Starlette's TestClient (an HTTP client's
overhead included), optuna-dashboard's WSGI app directly (none): the figures favour the peer.

- open: the JSON a run's page fetches when opened. Ours: the summary, the best-so-far curve
  (<= 1,000 points), the first 50 rows of the trials table and the reward-against-cost scatter
  (<= 2,000 points). optuna-dashboard: `GET /api/studies/ID`, every trial (its page draws
  from them all). Importance is left out of both (each computes it on request).
- poll: what each page asks every few seconds when nothing changed. Ours: the run's summary
  (its `version`); optuna-dashboard: `GET /api/studies/ID?after=N` (trials after the N seen).

Each figure is the median of 5 calls after one warm-up call (optuna-dashboard caches the trials
it read for a few seconds, so its warm calls are its best case); CPU-seconds are this process's.

    python bench/dashboard.py [--trials 10000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.arch import arch_key, canonical_json  # noqa: E402
from nasbeyond.config import RunConfig  # noqa: E402
from nasbeyond.run.store import SQLiteStore  # noqa: E402

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
REPEATS = 5


def trials(n: int) -> list[tuple[int, list[str], float | None, float]]:
    """(id, the 6 edge ops, reward or None when failed, cost seconds), seeded."""
    rng = random.Random(0)
    return [
        (
            i,
            [rng.choice(OPS) for _ in range(6)],
            None if i % 50 == 0 else rng.random(),
            rng.uniform(60, 200),
        )
        for i in range(1, n + 1)
    ]


def ours_store(path: Path, rows: list[tuple[int, list[str], float | None, float]]) -> Path:
    store = SQLiteStore(path)
    config = RunConfig(space="nb201", evaluator="nb201-table", trials=len(rows), run_dir=str(path))
    store.put("config", config.to_dict())
    t0 = time.time() - len(rows)
    data = []
    for i, edges, reward, cost in rows:
        arch = {"edges": edges}
        status = "failed" if reward is None else "ok"
        error = "RuntimeError: failed" if reward is None else None
        data.append(
            (i, arch_key(arch), canonical_json(arch), status, reward, "{}", cost, error, t0 + i)
        )
    store._db.executemany(
        "INSERT INTO trials (id, arch_key, arch, status, reward, metrics, cost_s, error, "
        "started, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?9 + 0.5)",
        data,
    )
    store.close()
    return path


def optuna_storage(rows: list[tuple[int, list[str], float | None, float]]) -> Any:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="bench", direction="maximize")
    dist = {f"edges.{k}": CategoricalDistribution(OPS) for k in range(6)}
    study.add_trials(
        [
            create_trial(
                params={f"edges.{k}": op for k, op in enumerate(edges)},
                distributions=dist,
                value=reward,
                state=TrialState.FAIL if reward is None else TrialState.COMPLETE,
                user_attrs={"cost_s": cost},
            )
            for _, edges, reward, cost in rows
        ]
    )
    return storage


def timed(call: Callable[[], int]) -> dict[str, float]:
    """Median wall ms, median CPU ms and the bytes of ``call`` (which returns the bytes)."""
    size = call()  # warm-up: imports, caches, the page's first load
    walls, cpus = [], []
    for _ in range(REPEATS):
        w, c = time.perf_counter(), time.process_time()
        size = call()
        walls.append((time.perf_counter() - w) * 1000)
        cpus.append((time.process_time() - c) * 1000)
    return {"ms": statistics.median(walls), "cpu_ms": statistics.median(cpus), "kb": size / 1024}


def ours(run_dir: Path) -> dict[str, dict[str, float]]:
    from fastapi.testclient import TestClient

    from nasbeyond.dashboard import open_runs
    from nasbeyond.dashboard.app import make_app

    client = TestClient(make_app(open_runs([run_dir])))
    opened = [
        "/api/runs/0",
        "/api/runs/0/curve?points=1000",
        "/api/runs/0/trials?offset=0&limit=50&sort=id&order=desc",
        "/api/runs/0/scatter?x=cost_s&points=2000",
    ]

    def get(path: str) -> int:
        r = client.get(path)
        assert r.status_code == 200, r.text
        return len(r.content)

    return {
        "open": timed(lambda: sum(get(p) for p in opened)),
        "poll": timed(lambda: get("/api/runs/0")),
    }


def peer(storage: Any, n: int) -> dict[str, dict[str, float]]:
    from optuna_dashboard import wsgi

    app = wsgi(storage)
    study_id = storage.get_study_id_from_name("bench")

    def get(path: str, query: str = "") -> int:
        environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query}
        setup_testing_defaults(environ)
        status: list[str] = []
        body = b"".join(app(environ, lambda s, h, *_: status.append(s)))
        assert status[0].startswith("200"), (status, body[:200])
        if query == "":
            assert len(json.loads(body)["trials"]) == n
        return len(body)

    return {
        "open": timed(lambda: get(f"/api/studies/{study_id}")),
        "poll": timed(lambda: get(f"/api/studies/{study_id}", f"after={n}")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, nargs="+", default=[1000, 10_000])
    ap.add_argument("--quick", action="store_true", help="1,000 trials only")
    args = ap.parse_args()
    sizes = [1000] if args.quick else args.trials
    warnings.filterwarnings("ignore")
    results: dict[str, Any] = {"sizes": sizes, "repeats": REPEATS, "rows": []}
    results["load_average_before"] = os.getloadavg()[0]  # others' work shares the machine
    out_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows = trials(n)
            t = time.perf_counter()
            run_dir = ours_store(Path(tmp) / f"ours-{n}", rows)
            storage = optuna_storage(rows)
            print(f"{n:,} trials written to both stores in {time.perf_counter() - t:.1f} s")
            a, b = ours(run_dir), peer(storage, n)
            for what in ("open", "poll"):
                o, p = a[what], b[what]
                row = {"trials": n, "request": what, "ours": o, "optuna_dashboard": p}
                results["rows"].append(row)
                out_rows.append(
                    [
                        f"{n:,}",
                        what,
                        o["ms"],
                        o["cpu_ms"],
                        o["kb"],
                        p["ms"],
                        p["cpu_ms"],
                        p["kb"],
                        p["cpu_ms"] / max(o["cpu_ms"], 1e-9),
                        p["kb"] / max(o["kb"], 1e-9),
                    ]
                )
    head = ["trials", "request", "ours ms", "ours CPU ms", "ours KB", "optuna-dashboard ms",
            "its CPU ms", "its KB", "CPU ratio", "bytes ratio"]  # fmt: skip
    print(table(head, out_rows))
    print("ratios: optuna-dashboard / ours (above 1: ours does less)")
    print(save("dashboard", results))


if __name__ == "__main__":
    main()
