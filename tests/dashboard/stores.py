"""Run directories for the dashboard tests, written through the real store."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from nasbeyond.config import RunConfig
from nasbeyond.run.store import SQLiteStore
from nasbeyond.space import make_space
from nasbeyond.trial import Result


def nb201_config(run_dir: Path, trials: int) -> dict:
    return RunConfig(
        space="nb201", evaluator="nb201-table", strategy="random", trials=trials,
        run_dir=str(run_dir),
    ).to_dict()  # fmt: skip


def small_run(run_dir: Path) -> Path:
    """Six nb201 trials through SQLiteStore's API: rewards 0.5, 0.7, (failed), 0.6, 0.9,
    0.8; trial 3 failed with a traceback; trial 5 stored log lines; params on every ok one."""
    store = SQLiteStore(run_dir)
    store.put("config", nb201_config(run_dir, 6))
    space, rng = make_space("nb201"), random.Random(0)
    import numpy as np

    gen = np.random.default_rng(0)
    for i, reward in enumerate([0.5, 0.7, None, 0.6, 0.9, 0.8], start=1):
        tid = store.start_trial(space.sample(gen), None, dict)
        if reward is None:
            result = Result.failed("Traceback (most recent call last):\nRuntimeError: boom", 1.0)
        else:
            metrics = {"params": 1000 * (7 - i) + rng.randint(0, 9), "val_acc": reward}
            if i == 5:
                metrics["log"] = ["epoch 1 loss 2.30", "epoch 2 loss 1.70"]
            result = Result("ok", reward, metrics, cost_s=10.0 * i)
        store.finish_trial(tid, result, dict)
    store.close()
    return run_dir


def big_run(run_dir: Path, n: int = 10_000) -> Path:
    """``n`` nb201 trials written in one executemany (seconds, not minutes); every 50th
    failed; archs cycle through 64 samples of the space."""
    store = SQLiteStore(run_dir)
    store.put("config", nb201_config(run_dir, n))
    import numpy as np

    from nasbeyond.arch import arch_key, canonical_json

    space, gen, rng = make_space("nb201"), np.random.default_rng(1), random.Random(1)
    archs = [space.sample(gen) for _ in range(64)]
    t0 = time.time() - n
    rows = []
    for i in range(1, n + 1):
        a, ok, reward = archs[i % 64], i % 50 != 0, rng.random()
        rows.append((
            i, arch_key(a), canonical_json(a), "ok" if ok else "failed",
            reward if ok else None, json.dumps({"params": rng.randint(1000, 10**6)}),
            rng.uniform(1, 100), None if ok else "RuntimeError: boom", t0 + i, t0 + i + 0.5,
        ))  # fmt: skip
    store._db.executemany(
        "INSERT INTO trials (id, arch_key, arch, status, reward, metrics, cost_s, error, "
        "started, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    store.close()
    return run_dir
