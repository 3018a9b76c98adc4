"""The loop's own cost per trial (ask + store + tell, a no-op evaluator) beside Optuna's
ask/tell on its SQLite storage, both sampling the same 11 categorical decisions at random.

    python bench/overhead.py [--trials 2000] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.run import InlineExecutor, SQLiteStore, run  # noqa: E402
from nasbeyond.space import MLPSpace  # noqa: E402
from nasbeyond.strategy import RandomSearch  # noqa: E402
from nasbeyond.testing import ToyEvaluator  # noqa: E402


def ours(n: int, tmp: Path) -> float:
    space = MLPSpace(max_layers=8)
    store = SQLiteStore(tmp / "ours")
    start = time.perf_counter()
    run(
        space,
        RandomSearch(space, seed=0),
        ToyEvaluator(),
        store=store,
        trials=n,
        executor=InlineExecutor(),
    )
    elapsed = time.perf_counter() - start
    assert store.count_finished() == n
    return elapsed / n * 1000


def optuna_peer(n: int, tmp: Path) -> float:
    import optuna

    from nasbeyond.testing import pseudo_reward

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    decisions = MLPSpace(max_layers=8).decisions()
    study = optuna.create_study(
        storage=f"sqlite:///{tmp / 'optuna.db'}",
        sampler=optuna.samplers.RandomSampler(seed=0),
        direction="maximize",
    )
    start = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        arch = {d.name: trial.suggest_categorical(d.name, list(d.choices)) for d in decisions}
        study.tell(trial, pseudo_reward(arch))
    elapsed = time.perf_counter() - start
    assert len(study.trials) == n
    return elapsed / n * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="300 trials (well under 60 s)")
    args = p.parse_args()
    n = 300 if args.quick else args.trials
    with tempfile.TemporaryDirectory() as d:
        a = ours(n, Path(d))
        b = optuna_peer(n, Path(d))
    print(f"loop overhead per trial, {n} trials, no-op evaluator, SQLite storage on both sides")
    print(
        table(
            ["impl", "ms/trial", "ratio"],
            [["nasbeyond", a, a / b], ["optuna (RandomSampler)", b, 1.0]],
        )
    )
    out = save(
        "overhead", {"ours_ms_per_trial": a, "optuna_ms_per_trial": b, "ratio": a / b, "trials": n}
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
