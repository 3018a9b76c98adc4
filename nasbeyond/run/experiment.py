"""``Experiment``: a search defined by a RunConfig, living in a run directory. It builds the space,
strategy and evaluator through the registry, hands them to ``run`` (the one loop) with a
SQLiteStore, and adds resume and the final report."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasbeyond.config import RunConfig
from nasbeyond.exceptions import ConfigError, StoreError
from nasbeyond.registry import create, names, parameters
from nasbeyond.run.executor import Executor, InlineExecutor, LocalExecutor
from nasbeyond.run.loop import Progress, run
from nasbeyond.run.store import DB_NAME, SQLiteStore
from nasbeyond.space import Space, make_space
from nasbeyond.strategy import Strategy
from nasbeyond.trial import Budget, Evaluator, Result, TaskShape, Trial


@dataclass
class FinalReport:
    trial_id: int
    arch: dict[str, Any]
    val_acc: float
    test_acc: float | None
    params: int | None
    weights: str | None


@dataclass(frozen=True)
class RunRecord:
    """A run directory opened for reading: its store, its settings and its space. No strategy
    or evaluator is built, so reading a run (``show``, ``draw``, ``export``) never loads data,
    trains or changes the run."""

    store: SQLiteStore
    config: RunConfig
    space: Space

    @classmethod
    def open(cls, run_dir: str | Path) -> RunRecord:
        """Raises StoreError if ``run_dir`` is not a run directory with saved settings."""
        store = SQLiteStore(run_dir, create=False)
        saved = store.get("config")
        if saved is None:
            why = store.get("settings_unsaved")
            store.close()
            raise StoreError(
                f"run_dir: {run_dir} has no saved search settings"
                + (f" ({why})" if why else "; is it a nasbeyond run directory?")
            )
        config = RunConfig.from_dict(saved).replace(run_dir=str(run_dir))
        return cls(store, config, make_space(config.space, config.space_args))

    def trial(self, trial_id: int | None = None) -> Trial:
        """Trial ``trial_id``, or the best ok trial; ConfigError if the run has none yet."""
        if trial_id is not None:
            return self.store.trial(trial_id)
        best = self.store.best(1)
        if not best:
            raise ConfigError(f"run_dir: {self.config.run_dir} has no successful trial yet")
        return best[0]

    def task(self) -> TaskShape | None:
        """The input and output shape the run's models were built for (None: not recorded)."""
        saved = self.store.get("task")
        if saved is None:
            return None
        return TaskShape(
            tuple(saved["input_shape"]),
            saved["num_classes"],
            saved.get("vocab_size", 0),
            tuple(saved.get("categories", ())),
        )


class Experiment:
    """A search defined by a RunConfig, living in ``config.run_dir``.

    Example:
        >>> exp = Experiment(RunConfig(space="mlp", dataset="digits", trials=5, run_dir="runs/x"))
        >>> best = exp.run()
    """

    def __init__(self, config: RunConfig) -> None:
        self.config = config.validated()
        run_dir = Path(str(self.config.run_dir))  # validated() always sets it
        self.space, self.strategy, self.evaluator = components(self.config)  # before any file
        self._fresh = not (run_dir / DB_NAME).exists()
        self.store = SQLiteStore(run_dir)
        saved = self.store.get("config")
        if saved is not None and _search_identity(saved) != _search_identity(config.to_dict()):
            raise ConfigError(
                f"run_dir: {config.run_dir} holds a different search; use `nasbeyond resume "
                f"{config.run_dir}` or another --run-dir"
            )

    @classmethod
    def resume(cls, run_dir: str | Path, **changes: Any) -> Experiment:
        """Reopen a run directory; ``changes`` may raise ``trials`` or change workers."""
        record = RunRecord.open(run_dir)
        record.store.close()
        return cls(record.config.replace(**changes))

    def check(self) -> None:
        """Fail fast, in the driver, on data or space problems a worker would hit later, and
        record the task shape so the run can be read without its evaluator. A new run that
        fails here leaves no directory behind."""
        try:
            preflight(self.space, self.evaluator)
        except Exception:
            if self._fresh and not self.store.trials():
                self.store.close()
                shutil.rmtree(self.store.path.parent, ignore_errors=True)
            raise
        task = getattr(self.evaluator, "task", None)
        if callable(task):
            self.store.put("task", dataclasses.asdict(task()))

    def run(self, progress: Progress | None = None) -> Trial | None:
        c = self.config
        self.check()
        self.store.put("config", c.to_dict())
        executor = make_executor(c)
        start = time.time()

        def on_trial(trial: Trial, finished: int, total: int, best: Trial | None) -> None:
            if c.objectives:  # the front so far, kept in the store beside the trials
                self.store.put("pareto", self.pareto())
            if progress:
                progress(trial, finished, total, best)

        if getattr(self.strategy, "weight_sharing", False):  # DARTS, ENAS, SPOS
            from nasbeyond.run.oneshot import run_oneshot

            best = run_oneshot(
                self.space,
                self.strategy,  # type: ignore[arg-type]  # a OneShotMethod
                self.evaluator,
                self.store,
                budget=Budget(epochs=c.epochs),
                seed=c.seed,
                progress=on_trial,
                threads=c.workers,
                executor=executor,
            )
            self.store.put("search_s", self.store.get("search_s", 0.0) + time.time() - start)
            return best
        best = run(
            self.space,
            self.strategy,
            self.evaluator,
            store=self.store,
            trials=c.trials,
            budget_seconds=c.budget_seconds,
            executor=executor,
            shape=reward_shaper(c),
            budget=Budget(epochs=c.epochs),
            seed=c.seed,
            progress=on_trial,
        )
        self.store.put("search_s", self.store.get("search_s", 0.0) + time.time() - start)
        return best

    def pareto(self) -> dict[str, Any]:
        """The Pareto front of the finished trials under the config's ``objectives``: trial
        ids and hypervolume (see ``front_summary``)."""
        from nasbeyond.evaluate.pareto import front_summary

        if not self.config.objectives:
            raise ConfigError(
                "objectives: this search has none; e.g. --objectives accuracy,latency"
            )
        return front_summary(
            [(t.id, t.metrics) for t in self.store.trials("ok")], self.config.objectives
        )

    def final_report(
        self, on_retrain: Callable[[int, float], None] | None = None
    ) -> FinalReport | None:
        """Test accuracy of the best trial (after retraining it for ``final_epochs`` on the whole
        training split, if set). The only place the test split is read.

        Args:
            on_retrain: called with (trial id, epochs) just before a retraining starts (not
                when the report is already stored), e.g. to tell a user what the wait is.
        """
        best = next(iter(self.store.best(1)), None)
        if best is None or "constraint" in best.metrics:  # nothing met the hard constraints
            return None
        cached = self.store.get("final")
        if cached and cached["trial_id"] == best.id:
            return FinalReport(**cached)
        from nasbeyond.train import weights_path

        run_dir = self.store.path.parent
        weights: str | None = str(weights_path(run_dir, best.id))
        retrain = getattr(self.evaluator, "retrain", None)  # the trainers: Trainer, detection
        if callable(retrain) and self.config.final_epochs > 0:
            if on_retrain is not None:
                on_retrain(best.id, self.config.final_epochs)
            weights = str(
                retrain(best.arch, self.config.final_epochs, self.config.seed, run_dir / "weights")
            )
        test = getattr(self.evaluator, "test", None)
        test_acc = float(test(best.arch, weights)) if callable(test) else None
        report = FinalReport(
            best.id,
            best.arch,
            float(best.reward or 0.0),
            test_acc,
            best.metrics.get("params"),
            weights if weights and Path(weights).exists() else None,
        )
        self.store.put("final", report.__dict__)
        return report


def preflight(space: Space, evaluator: Evaluator, arch: dict[str, Any] | None = None) -> None:
    """Load the evaluator's data and build one model (``arch``, or a sample), so data and space
    problems surface in the driver as one clear error instead of in every trial."""
    task = getattr(evaluator, "task", None)
    if arch is not None:
        space.validate(arch)
    if callable(task):
        import numpy as np

        build = getattr(evaluator, "build_model", space.build)
        build(arch if arch is not None else space.sample(np.random.default_rng(0)), task())


def reward_shaper(c: RunConfig) -> Callable[[Result], Result] | None:
    """The reward transformation a config asks for (None: the evaluator's accuracy)."""
    if c.reward == "accuracy":
        return None
    from nasbeyond.evaluate.reward import MnasNetReward, parse_ms

    assert c.target_latency is not None  # RunConfig.validated() requires it
    return MnasNetReward.named(c.reward, parse_ms(c.target_latency))


def components(c: RunConfig) -> tuple[Space, Strategy, Evaluator]:
    """The space, strategy and evaluator a config names, built through the registry. The
    evaluator receives the config fields its constructor declares (plus ``evaluator_args``)."""
    space = make_space(c.space, c.space_args)
    strategy: Strategy
    if c.strategy in names("oneshot") and c.strategy not in names("strategy"):
        # a weight-sharing method (nasbeyond.oneshot): Experiment.run hands it to run_oneshot
        from nasbeyond.oneshot.base import require_supernet

        require_supernet(space)
        strategy = create("oneshot", c.strategy, seed=c.seed, **c.strategy_args)
    else:
        strategy_kwargs = {"space": space, "seed": c.seed, **c.strategy_args}
        if c.objectives and "objectives" in parameters("strategy", c.strategy):
            strategy_kwargs.setdefault("objectives", c.objectives)
        strategy = create("strategy", c.strategy, **strategy_kwargs)
    wanted = parameters("evaluator", c.evaluator)
    kwargs = {
        k: getattr(c, k)
        for k in wanted
        if k != "space" and hasattr(c, k) and getattr(c, k) is not None
    }
    if "space" in wanted:
        kwargs["space"] = space
    needs_latency = c.reward != "accuracy" or "latency" in (c.objectives or "")
    if needs_latency and "measure_latency" in wanted:
        kwargs["measure_latency"] = True
    evaluator: Evaluator = create("evaluator", c.evaluator, **{**kwargs, **c.evaluator_args})
    if (
        needs_latency
        and "latency_device" in wanted
        and not getattr(evaluator, "latency_device", None)
    ):
        raise ConfigError(
            f"evaluator_args: {c.evaluator} reports latency only with "
            "--evaluator-arg latency_device=NAME"
        )
    return space, strategy, evaluator


# Settings that may change on resume without making it a different search.
_RUNTIME_SETTINGS = frozenset(
    {
        "trials",
        "budget_seconds",
        "workers",
        "run_dir",
        "trial_timeout",
        "executor",
        "address",
        "cpus_per_trial",
        "gpus_per_trial",
        "max_retries",
        "final_epochs",
        "device",
    }
)


def _search_identity(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in _RUNTIME_SETTINGS}


def make_executor(c: RunConfig) -> Executor:
    """The executor a config names (beside ``components``: the two factories of a RunConfig;
    not in executor.py, whose executors it imports)."""
    if c.executor == "inline":
        return InlineExecutor()
    if c.executor == "ray":
        from nasbeyond.run.ray_executor import RayExecutor

        temp = Path(str(c.run_dir)).resolve() / "ray"
        return RayExecutor(
            c.address,
            c.workers,
            c.cpus_per_trial,
            c.gpus_per_trial,
            c.max_retries,
            c.trial_timeout,
            temp_dir=str(temp) if len(str(temp)) < 60 else None,  # Ray's socket paths: short
        )
    return LocalExecutor(c.workers, c.trial_timeout, max_retries=c.max_retries)
