"""NAS-Bench-201, the paper's non-weight-sharing protocol, through the benchmark tables.

Search signal: the 12-epoch CIFAR-10 validation accuracy; budget: 12,000 simulated seconds
(each query charged 12 x train s/epoch + a validation pass); reported: the chosen arch's
200-epoch test accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120, mean +- std over runs.
Our strategies run through ``nasbeyond.run.run`` (the one loop) with a ``MemoryStore``
(benchmark mode); Optuna's TPE and random samplers go through the same lookup as a peer.

    python bench/nb201.py [--runs 500] [--quick] [--methods a,b] [--workers 1]
                                           # --quick: 100 runs, saved as nb201_quick

``--methods`` runs only those methods; the others' figures already on record with the same
number of runs are kept in the saved JSON (and printed, marked ``*``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save, table  # noqa: E402

from nasbeyond.arch import Arch  # noqa: E402
from nasbeyond.evaluate.nb201_table import NB201TableEvaluator  # noqa: E402
from nasbeyond.registry import create  # noqa: E402
from nasbeyond.run import MemoryStore, run  # noqa: E402
from nasbeyond.space import NB201Space  # noqa: E402
from nasbeyond.strategy import Strategy  # noqa: E402
from nasbeyond.trial import Trial  # noqa: E402

BUDGET = 12_000.0
DATASETS = ("cifar10", "cifar100", "imagenet16")
PAPER = {  # Dong & Yang 2020, Table 5 (mean, std), from shared/data/nb201/README.md
    "random": [(93.70, 0.36), (71.04, 1.07), (44.57, 1.25)],
    "rea": [(93.92, 0.30), (71.84, 0.99), (45.54, 1.03)],
    "reinforce": [(93.85, 0.37), (71.71, 1.09), (45.24, 1.18)],
    "hyperband": [(93.61, 0.52), (70.85, 1.28), (44.42, 1.49)],  # the paper ran BOHB
}
OPTIMUM = 94.37
FIDELITIES = {"min_budget": 12, "max_budget": 200, "eta": 200 / 12}
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "rea": ("evolution", {"population_size": 10, "sample_size": 3}),
    "rea-best": ("evolution", {"population_size": 10, "sample_size": 5}),
    "reinforce": ("reinforce", {}),
    "tpe": ("tpe", {}),
    "local-search": ("local-search", {}),
    # first improvement, surrogate-ordered neighbours, restarts from the best of 10 random
    "guided-local-search": ("guided-local-search", {}),
    "bananas": ("bananas", {"retrain_every": 5}),  # retrained every 5 results: wall time
    "hyperband": ("hyperband", FIDELITIES),
    "optuna-tpe": ("optuna", {"sampler": "tpe"}),
    "optuna-random": ("optuna", {"sampler": "random"}),
    "tpe-multi": ("tpe", {"gamma": 0.15, "multivariate": True}),
    # the best setting found: multivariate TPE, broad kernels, hill-climbs from the incumbent
    "best": (
        "tpe",
        {"gamma": 0.15, "multivariate": True, "prior_weight": 3.0, "climb_after": 10},
    ),
}


class OptunaStrategy(Strategy):
    """An Optuna sampler behind our ask/tell, one categorical parameter per decision."""

    def __init__(self, space: NB201Space, seed: int, sampler: str) -> None:
        import optuna

        super().__init__(space, seed)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        s = (
            optuna.samplers.TPESampler(seed=seed)
            if sampler == "tpe"
            else optuna.samplers.RandomSampler(seed=seed)
        )
        self.study = optuna.create_study(direction="maximize", sampler=s)
        self.decisions = space.decisions()
        self._open: list[Any] = []

    def ask(self) -> Arch | None:
        t = self.study.ask()
        self._open.append(t)
        return self.space.from_choices(
            [
                d.choices.index(t.suggest_categorical(d.name, list(d.choices)))
                for d in self.decisions
            ]
        )

    def tell(self, trial: Trial) -> None:
        self.study.tell(self._open.pop(0), trial.reward)


def one_run(args: tuple[str, int]) -> tuple[list[float], list[tuple[float, float]]]:
    """One search; returns the chosen arch's test accuracies and the incumbent's trajectory."""
    import torch

    torch.set_num_threads(1)
    method, seed = args
    name, kwargs = METHODS[method]
    space = NB201Space()
    strategy = (
        OptunaStrategy(space, seed, **kwargs)
        if name == "optuna"
        else create("strategy", name, space=space, seed=seed, **kwargs)
    )
    best: tuple[float, float] | None = None
    chosen: dict[str, Any] = {}
    curve = []
    store = MemoryStore()  # benchmark mode: the one loop, nothing written to disk
    run(space, strategy, NB201TableEvaluator(), store=store, budget_seconds=BUDGET)
    spent = 0.0
    for t in store.trials():
        spent += t.cost_s
        if t.status != "ok" or t.reward is None:
            continue
        key = (t.budget or 12, t.reward)  # a higher fidelity outranks a lower one
        if best is None or key > best:
            best, chosen = key, t.metrics
            curve.append((spent, chosen["cifar10_test_acc_200ep"]))
    return [chosen[f"{d}_test_acc_200ep"] for d in DATASETS], curve


def regret_plot(curves: dict[str, list[list[tuple[float, float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, BUDGET, 121)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, runs in curves.items():
        med = []
        for x in grid:
            vals = [next((acc for s, acc in reversed(c) if s <= x), np.nan) for c in runs]
            med.append(OPTIMUM - np.nanmedian(vals) if not np.all(np.isnan(vals)) else np.nan)
        ax.plot(grid, med, label=method)
    ax.set_yscale("log")
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("median regret, CIFAR-10 test acc (pt)")
    ax.set_title("NAS-Bench-201, 12-epoch signal, 12,000 s budget")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--quick", action="store_true", help="100 runs per method")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--workers", type=int, default=1, help="processes (1: the default)")
    args = p.parse_args()
    runs = 100 if args.quick else args.runs
    methods = args.methods.split(",")
    for m in methods:
        if m not in METHODS:
            p.error(f"--methods: unknown method {m!r}; allowed: {', '.join(METHODS)}")
    name = "nb201_quick" if args.quick else "nb201"  # a quick run keeps the full run's record
    record = RESULTS / f"{name}.json"
    kept: dict[str, Any] = {}
    kept_settings: dict[str, Any] = {}
    if record.exists():  # figures of methods not rerun now, measured with as many runs
        old = json.loads(record.read_text())
        if old.get("_runs") == runs:
            kept = {k: v for k, v in old.items() if not k.startswith("_") and k not in methods}
            kept_settings = {k: v for k, v in old.get("_settings", {}).items() if k in kept}
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[list[tuple[float, float]]]] = {}
    start = time.time()
    if args.workers < 1:
        p.error(f"--workers: {args.workers}; allowed: >= 1")
    pool = mp.get_context("spawn").Pool(args.workers) if args.workers > 1 else None
    try:
        for m in methods:
            jobs = [(m, seed) for seed in range(runs)]
            out = pool.map(one_run, jobs, chunksize=10) if pool else [one_run(j) for j in jobs]
            accs = np.array([a for a, _ in out])
            results[m] = {
                d: [round(float(accs[:, i].mean()), 3), round(float(accs[:, i].std()), 3)]
                for i, d in enumerate(DATASETS)
            }
            # share of runs whose chosen arch has the optimum's CIFAR-10 test accuracy
            results[m]["optimum_share"] = round(float(np.mean(accs[:, 0] >= OPTIMUM - 5e-3)), 3)
            curves[m] = [c for _, c in out]
    finally:
        if pool is not None:
            pool.close()
    rows = []
    for m in [*methods, *kept]:
        res = results.get(m) or kept[m]
        row: list[Any] = [m + ("" if m in results else " *")]
        for i, d in enumerate(DATASETS):
            mean, std = res[d]
            ref = PAPER.get(m)
            row += [f"{mean:.2f}+-{std:.2f}", f"{ref[i][0]:.2f}+-{ref[i][1]:.2f}" if ref else ""]
        share = res.get("optimum_share")
        row.append("" if share is None else f"{100 * share:.0f}%")
        rows.append(row)
    print(
        f"NAS-Bench-201, {runs} runs per method, budget {BUDGET:.0f} simulated s "
        f"({time.time() - start:.0f} s wall)"
    )
    print(
        table(
            [
                "method",
                "C10 ours",
                "C10 paper",
                "C100 ours",
                "C100 paper",
                "IN16 ours",
                "IN16 paper",
                "optimum found",
            ],
            rows,
        )
    )
    print(f"optimum: 94.37 / 73.51 / 47.31; 'best' = {METHODS['best']}")
    if kept:
        print(f"* kept from {record} (same number of runs), not rerun now")
    RESULTS.mkdir(exist_ok=True)
    regret_plot(curves, RESULTS / f"{name}_regret.png")
    settings = {m: {"strategy": n, **kw} for m, (n, kw) in METHODS.items() if m in methods}
    out = save(
        name,
        {
            **kept,
            **results,
            "_runs": runs,
            "_settings": {**kept_settings, **settings},
        },
    )
    print(f"saved {out} and {RESULTS / f'{name}_regret.png'} (methods run now)")


if __name__ == "__main__":
    main()
