"""Weight-sharing searches (``nasbeyond.oneshot``: DARTS, ENAS, SPOS) on the one loop and store.

``run_oneshot`` is what ``Experiment.run`` calls when the config's strategy is a registered
``oneshot`` method:

1. **supernet**: the space's supernet for the evaluator's task, trained by ``method.search`` in
   the driver (its checkpoint in ``RUN_DIR/oneshot/`` after every epoch, so a killed run
   resumes from the last finished epoch). Each epoch and each candidate scored with inherited
   weights is kept in the store under ``oneshot`` with its wall and CPU seconds; candidate
   searches that a method runs through ``log.loop`` (SPOS's evolution) are ``run`` itself, on
   a store in ``RUN_DIR/oneshot/candidates``.
2. **standalone**: the derived arch is trained from scratch by the evaluator (``--epochs``) as
   the run's trial 1, through ``run``; the final report then retrains it (``--final-epochs``)
   and tests it, as for any search.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.oneshot.base import OneShotData, OneShotMethod, make_supernet
from nasbeyond.run.executor import Executor, InlineExecutor
from nasbeyond.run.loop import Progress, run
from nasbeyond.run.store import MemoryStore, SQLiteStore, Store
from nasbeyond.space import Space
from nasbeyond.strategy import Strategy
from nasbeyond.trial import Budget, Evaluator, Trial

KEY = "oneshot"  # the store entry: method, epochs, candidates, derived arch, costs


class GivenArch(Strategy):
    """Proposes one given arch once (the derived arch's standalone training)."""

    def __init__(self, space: Space, arch: Arch) -> None:
        super().__init__(space, seed=0)
        self.arch = arch
        self.given = False

    def ask(self) -> Arch | None:
        if self.given:
            return None
        self.given = True
        return self.arch

    def tell(self, trial: Trial) -> None:
        self._learn(trial)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "given": self.given}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.given = bool(state.get("given", False))


class StoreLog:
    """The ``SearchLog`` of a run: epochs and candidates in ``store[KEY]`` with their costs."""

    def __init__(
        self, store: Store, checkpoint_dir: Path | None, space: Space, method: OneShotMethod
    ) -> None:
        self.store = store
        self.checkpoint_dir = checkpoint_dir
        self.space = space
        self.seed = method.seed
        self.record: dict[str, Any] = store.get(KEY) or {
            "method": method.name,
            "settings": {
                k: v
                for k, v in vars(method).items()
                if isinstance(v, (bool, int, float, str, type(None)))
            },
            "epochs": [],
            "candidates": [],
            "arch": None,
        }
        self._mark = (time.perf_counter(), time.process_time())

    def _since_mark(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self._mark[0], cpu - self._mark[1])
        self._mark = (wall, cpu)
        return out

    def epoch(self, record: dict[str, Any]) -> None:
        wall, cpu = self._since_mark()
        entry = {**record, "cost_s": wall, "cpu_s": cpu}
        kept = [e for e in self.record["epochs"] if e.get("epoch") != record.get("epoch")]
        self.record["epochs"] = [*kept, entry]
        self.store.put(KEY, self.record)

    def candidate(self, arch: Arch, score: float, cost_s: float, **metrics: Any) -> None:
        self.record["candidates"].append(
            {"arch": arch, "score": score, "cost_s": cost_s, **metrics}
        )
        self.store.put(KEY, self.record)

    def loop(self, strategy: Any, evaluator: Any, trials: int) -> Trial | None:
        sub: Store = (
            MemoryStore()
            if self.checkpoint_dir is None
            else SQLiteStore(self.checkpoint_dir / "candidates")
        )

        def logged(trial: Trial, finished: int, total: int, best: Trial | None) -> None:
            score = trial.reward if trial.reward is not None else float("nan")
            self.candidate(trial.arch, score, trial.cost_s, trial=trial.id)

        try:
            return run(
                self.space,
                strategy,
                evaluator,
                store=sub,
                trials=trials,
                executor=InlineExecutor(),
                seed=self.seed,
                progress=logged,
            )
        finally:
            sub.close()

    def finish(self, arch: Arch) -> None:
        wall, cpu = self._since_mark()
        self.record["arch"] = arch
        self.record["search_cost_s"] = sum(e["cost_s"] for e in self.record["epochs"]) + wall
        self.record["search_cpu_s"] = sum(e["cpu_s"] for e in self.record["epochs"]) + cpu
        self.store.put(KEY, self.record)


def oneshot_data(evaluator: Evaluator) -> OneShotData:
    """The evaluator's training and validation splits (the ``train`` evaluator's)."""
    splits, task = getattr(evaluator, "splits", None), getattr(evaluator, "task", None)
    if not callable(splits) or not callable(task):
        raise ConfigError(
            "evaluator: a weight-sharing search trains on the data of the train evaluator; "
            "use --evaluator train"
        )
    s = splits()
    return OneShotData(s.x_train, s.y_train, s.x_val, s.y_val, task())


def search_supernet(
    space: Space,
    method: OneShotMethod,
    evaluator: Evaluator,
    store: Store,
    *,
    seed: int = 0,
    threads: int | None = None,
) -> Arch:
    """Step 1 alone: train the supernet (resuming it) and return the derived arch; a finished
    search is not repeated (its arch is read from the store)."""
    done = store.get(KEY)
    if done is not None and done.get("arch") is not None:
        return dict(done["arch"])
    if threads is not None:
        torch.set_num_threads(threads)
    data = oneshot_data(evaluator)
    torch.manual_seed(seed)
    supernet = make_supernet(space, data.task).to(data.device)
    checkpoint_dir = None if store.run_dir is None else Path(store.run_dir) / "oneshot"
    log = StoreLog(store, checkpoint_dir, space, method)
    arch = space.validate(method.search(supernet, data, checkpoint_dir, log))
    log.finish(arch)
    return arch


def run_oneshot(
    space: Space,
    method: OneShotMethod,
    evaluator: Evaluator,
    store: Store,
    *,
    budget: Budget | None = None,
    seed: int = 0,
    progress: Progress | bool | None = None,
    threads: int | None = None,
    executor: Executor | None = None,
) -> Trial | None:
    """The supernet search, then the derived arch's standalone training as trial 1 of ``run``
    (``budget``: its epochs; None: the evaluator's default). Returns that trial. Resumable
    at every step with the same store."""
    arch = search_supernet(space, method, evaluator, store, seed=seed, threads=threads)
    return run(
        space,
        GivenArch(space, arch),
        evaluator,
        store=store,
        trials=1,
        budget=budget,
        seed=seed,
        progress=progress,
        executor=executor,
    )
