"""NAS-Bench-201 as the referee of weight-sharing search (issue 15, part 5).

Each method trains an NB201 supernet on a real offline image set (MNIST-5k by default, 28x28)
and derives one cell; the cell is then looked up in the NB201 table, which knows its 200-epoch
CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy. Reported per method: mean ± std over the
seeds of the derived cells' table accuracies, and the mean number of ``skip_connect`` / ``none``
edges (of 6) - the collapse count.

Peer: the NB201 paper's own figures (Dong & Yang, ICLR 2020, Table 5) and DARTS-'s (Chu et al.,
ICLR 2021, Table 4), printed beside ours: unguarded DARTS collapses to the all-skip cell (54.30
CIFAR-10 test), DARTS- 93.80, GDAS 93.61, the optimum 94.37.

``METHODS`` is the table of what runs: name -> (registered oneshot method, its arguments). Add
a row (ENAS, SPOS) and run ``--methods NAME``: the JSON file keeps the other rows.

    python bench/weight_sharing_nb201.py            # every method, 3 seeds
    python bench/weight_sharing_nb201.py --quick    # 1 seed, 2 short epochs (a smoke run)
    python bench/weight_sharing_nb201.py --methods darts-guarded --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, save, table  # noqa: E402

from nasbeyond.benchdata import load_table  # noqa: E402
from nasbeyond.registry import create  # noqa: E402
from nasbeyond.run.oneshot import search_supernet  # noqa: E402
from nasbeyond.run.store import MemoryStore  # noqa: E402
from nasbeyond.space.nb201 import NB201Space, to_arch_str  # noqa: E402
from nasbeyond.train import Trainer  # noqa: E402

# The supernet every method trains: C=8, N=1 (3 mixed cells + 2 reductions), 28x28 inputs.
SPACE_ARGS = {"channels": 8, "cells": 1}
DARTS_BUDGET = {"epochs": 10, "steps_per_epoch": 20, "batch_size": 32}
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "darts": ("darts", {**DARTS_BUDGET, "guard": "none"}),
    "darts-guarded": ("darts", {**DARTS_BUDGET, "guard": "darts-"}),
    "darts-es": ("darts", {**DARTS_BUDGET, "guard": "es"}),
    # ENAS and SPOS train one sampled path per minibatch, on the same budget of steps
    "enas": ("enas", {**DARTS_BUDGET, "controller_steps": 20, "final_samples": 10}),
    "spos": ("spos", {**DARTS_BUDGET, "trials": 20, "population_size": 10, "sample_size": 3}),
}
QUICK = {"epochs": 2, "steps_per_epoch": 5}
PAPER = {  # CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy reported by the papers
    "darts (NB201 paper, 1st order)": (54.30, 15.61, 16.32),
    "darts- (Chu et al. 2021)": (93.80, 71.53, 45.12),
    "gdas (NB201 paper)": (93.61, 70.70, 41.71),
    "optimum": (94.37, 73.51, 47.31),
}
DATASETS = ("cifar10", "cifar100", "imagenet16")
COLLAPSE = ("skip_connect", "none")


def lookup(arch: dict[str, Any]) -> dict[str, float]:
    t = load_table()
    i = t.index[to_arch_str(arch)]
    return {d: float(t.cols[f"{d}_test_acc_200ep"][i]) for d in DATASETS}


def one_run(
    method: str, kwargs: dict[str, Any], seed: int, dataset: str, val_fraction: float
) -> dict[str, Any]:
    space = NB201Space(**SPACE_ARGS)
    trainer = Trainer(space, dataset=dataset, val_fraction=val_fraction, device="cpu")
    m = create("oneshot", method, seed=seed, **kwargs)
    wall, cpu = time.perf_counter(), time.process_time()
    store = MemoryStore()
    arch = search_supernet(space, m, trainer, store, seed=seed, threads=1)
    record = store.get("oneshot")
    return {
        "seed": seed,
        "arch": to_arch_str(arch),
        "skip_or_none": sum(op in COLLAPSE for op in arch["edges"]),
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "epochs": [
            {k: e[k] for k in ("epoch", "train_loss", "relaxed_val_acc", "skip_or_none") if k in e}
            for e in record["epochs"]
        ],
        **lookup(arch),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in DATASETS:
        vals = [r[d] for r in runs]
        out[d] = [statistics.fmean(vals), statistics.pstdev(vals)]
    out["skip_or_none_edges"] = statistics.fmean(r["skip_or_none"] for r in runs)
    out["cpu_s"] = statistics.fmean(r["cpu_s"] for r in runs)
    out["runs"] = runs
    return out


def merge(name: str, label: str, row: dict[str, Any]) -> dict[str, Any]:
    """Put one method's row into the results file, keeping the others (runs of different
    methods may finish at the same time: the file is locked while it is rewritten)."""
    import fcntl

    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = RESULTS / f"{name}.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        prev = old.get("nb201", {}).get(label)
        if prev and (prev["settings"], prev["setup"]["dataset"], prev["setup"]["val_fraction"]) == (
            row["settings"],
            row["setup"]["dataset"],
            row["setup"]["val_fraction"],
        ):  # the same method run with other --seeds (e.g. in parallel): their runs add up
            seeds = {r["seed"] for r in row["runs"]}
            runs = sorted(
                [r for r in prev["runs"] if r["seed"] not in seeds] + row["runs"],
                key=lambda r: r["seed"],
            )
            setup = {**row["setup"], "seeds": [r["seed"] for r in runs]}
            row = {**summarise(runs), "settings": row["settings"], "setup": setup}
        results: dict[str, Any] = {**old.get("nb201", {}), label: row}
        save(name, {"nb201": results})
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 seed, 2 epochs of 5 steps")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated METHODS rows")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--dataset", default="mnist5k", help="mnist5k or fashion-mnist")
    p.add_argument("--val-fraction", type=float, default=0.5, help="DARTS's half for alpha")
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    name = "weight_sharing_nb201_quick" if args.quick else "weight_sharing_nb201"
    path = RESULTS / f"{name}.json"
    results: dict[str, Any] = {}
    for label in args.methods.split(","):
        if label not in METHODS:
            sys.exit(f"--methods: unknown {label!r}; allowed: {', '.join(METHODS)}")
        method, kwargs = METHODS[label]
        kwargs = {**kwargs, **(QUICK if args.quick else {})}
        runs = []
        for seed in seeds:
            r = one_run(method, kwargs, seed, args.dataset, args.val_fraction)
            print(
                f"{label} seed {seed}: {r['arch']}  cifar10 {r['cifar10']:.2f}  "
                f"skip/none {r['skip_or_none']}  {r['cpu_s']:.0f} CPU-s",
                flush=True,
            )
            runs.append(r)
            row = {**summarise(runs), "settings": {"method": method, **kwargs}}
            row["setup"] = {
                "space_args": SPACE_ARGS,
                "dataset": args.dataset,
                "val_fraction": args.val_fraction,
                "seeds": [run["seed"] for run in runs],  # saved after every seed
            }
            results = merge(name, label, row)
    rows = []
    for label, r in results.items():
        rows.append(
            [label, *(f"{r[d][0]:.2f}±{r[d][1]:.2f}" for d in DATASETS), r["skip_or_none_edges"]]
        )
    for label, vals in PAPER.items():
        rows.append([label, *(f"{v:.2f}" for v in vals), "-"])
    print(table(["method", "CIFAR-10", "CIFAR-100", "ImageNet16-120", "skip/none"], rows))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
