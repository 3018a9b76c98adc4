"""The loop: a strategy proposes, an executor evaluates, the store records, the strategy learns.

``run`` is the only loop in nasbeyond; ``Experiment`` wires a RunConfig to it and adds the run
directory, resume and the final report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasbeyond.config import RunConfig
from nasbeyond.exceptions import ConfigError, NasbeyondError, StoreError
from nasbeyond.registry import create, parameters
from nasbeyond.run.executor import Executor, InlineExecutor, LocalExecutor
from nasbeyond.run.store import Store
from nasbeyond.space import Space
from nasbeyond.strategy import Strategy
from nasbeyond.trial import Budget, Context, Evaluator, Proposal, Result, Trial

Progress = Callable[[Trial, int, int, "Trial | None"], None]  # trial, finished, total, best


def run(
    space: Space,
    strategy: Strategy,
    evaluator: Evaluator,
    *,
    store: Store,
    trials: int | None = None,
    budget_seconds: float | None = None,
    executor: Executor | None = None,
    budget: Budget | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    shape: Callable[[Result], Result] | None = None,
) -> Trial | None:
    """Evaluate proposals of ``strategy`` until ``trials`` trials have finished (ok or failed),
    the finished trials' summed ``cost_s`` reaches ``budget_seconds`` (the trial that crosses
    it counts), or the strategy is exhausted. Returns the best trial.

    Resumable: a strategy checkpoint in ``store`` is loaded first, and trials the store still
    marks as running (the run was killed) are evaluated again before anything new is asked.
    """
    if trials is None and budget_seconds is None:
        raise ConfigError("trials: give a number of trials, a budget in seconds, or both")
    executor = executor or InlineExecutor()
    budget = budget or Budget()
    run_dir = str(store.path.parent)
    state = store.get("strategy_state")
    if state is not None:
        strategy.load_state_dict(state)
    retry = store.trials("running")
    finished, spent = store.count_finished(), store.total_cost()
    best = next(iter(store.best(1)), None)
    exhausted = False
    threads = getattr(executor, "threads", 1)

    def more(extra: int = 0) -> bool:
        return (trials is None or finished + extra < trials) and (
            budget_seconds is None or spent < budget_seconds
        )

    def submit(tid: int, p: Proposal) -> None:
        parent = store.trial(p.parent) if p.parent is not None else None
        b = Budget(epochs=p.budget, steps=None) if p.budget is not None else budget
        ctx = Context(
            tid,
            seed * 1_000_003 + tid,
            run_dir,
            threads,
            p.parent,
            parent.budget if parent else None,
        )
        executor.submit((tid, p.arch, b, ctx))

    executor.start(evaluator)
    try:
        while more():
            while executor.free() > 0 and more(executor.in_flight()):
                if retry:
                    t = retry.pop(0)
                    store.start_trial(t.arch, t.budget, strategy.state_dict(), trial_id=t.id)
                    submit(t.id, Proposal(t.arch, t.budget, t.parent))
                    continue
                proposal = None if exhausted else strategy.propose()
                if proposal is None:
                    exhausted = True
                    break
                space.validate(proposal.arch)
                epochs = proposal.budget if proposal.budget is not None else budget.epochs
                tid = store.start_trial(
                    proposal.arch, epochs, strategy.state_dict(), parent=proposal.parent
                )
                submit(tid, proposal)
            if executor.in_flight() == 0:
                break  # the strategy has nothing left to propose
            for tid, result in executor.wait(timeout=1.0):
                if shape is not None:
                    result = shape(result)
                started = store.trial(tid)
                strategy.tell(
                    Trial(
                        tid,
                        started.arch,
                        result.status,
                        result.reward,
                        result.metrics,
                        result.cost_s,
                        result.error,
                        started.budget,
                        started.parent,
                    )
                )
                trial = store.finish_trial(tid, result, strategy.state_dict())
                finished += 1
                spent += trial.cost_s
                if trial.status == "ok" and (
                    best is None or (trial.reward or 0) > (best.reward or 0)
                ):
                    best = trial
                if progress:
                    progress(trial, finished, trials or 0, best)  # 0: no trial limit
    finally:
        executor.shutdown()
    return best


@dataclass
class FinalReport:
    trial_id: int
    arch: dict[str, Any]
    val_acc: float
    test_acc: float | None
    params: int | None
    weights: str | None


class Experiment:
    """A search defined by a RunConfig, living in ``config.run_dir``.

    Example:
        >>> exp = Experiment(RunConfig(space="mlp", dataset="digits", trials=5, run_dir="runs/x"))
        >>> best = exp.run()
    """

    def __init__(self, config: RunConfig) -> None:
        self.config = config.validated()
        self.store = Store(config.run_dir)
        saved = self.store.get("config")
        if saved is not None and _search_identity(saved) != _search_identity(config.to_dict()):
            raise ConfigError(
                f"run_dir: {config.run_dir} holds a different search; use `nasbeyond resume "
                f"{config.run_dir}` or another --run-dir"
            )
        self.space, self.strategy, self.evaluator = components(self.config)

    @classmethod
    def resume(cls, run_dir: str | Path, **changes: Any) -> Experiment:
        """Reopen a run directory; ``changes`` may raise ``trials`` or change workers."""
        store = Store(run_dir, create=False)
        saved = store.get("config")
        store.close()
        if saved is None:
            raise StoreError(f"run_dir: {run_dir} has no saved search settings")
        config = RunConfig.from_dict(saved).replace(run_dir=str(run_dir), **changes)
        return cls(config)

    def check(self) -> None:
        """Fail fast, in the driver, on data or space problems a worker would hit later."""
        preflight(self.space, self.evaluator)

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

    def final_report(self) -> FinalReport | None:
        """Test accuracy of the best trial (after retraining it for ``final_epochs`` on the whole
        training split, if set). The only place the test split is read."""
        best = next(iter(self.store.best(1)), None)
        if best is None:
            return None
        cached = self.store.get("final")
        if cached and cached["trial_id"] == best.id:
            return FinalReport(**cached)
        from nasbeyond.train import Trainer, weights_path

        run_dir = self.store.path.parent
        weights: str | None = str(weights_path(run_dir, best.id))
        if isinstance(self.evaluator, Trainer) and self.config.final_epochs > 0:
            weights = str(
                self.evaluator.retrain(
                    best.arch, self.config.final_epochs, self.config.seed, run_dir / "weights"
                )
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


def make_executor(c: RunConfig) -> Executor:
    """The executor a config names."""
    if c.executor == "inline":
        return InlineExecutor()
    if c.executor == "ray":
        from nasbeyond.run.ray_executor import RayExecutor

        temp = Path(c.run_dir).resolve() / "ray"
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


def make_space(name: str, args: dict[str, Any]) -> Space:
    """A registered space, or a user-defined one (``FILE.py:FUNCTION`` or ``MODULE:FUNCTION``)."""
    if ":" not in name:
        space: Space = _create("space", name, args)
        return space
    from nasbeyond.space.user import FunctionSpace, load_function

    load_function(name)  # a bad reference fails here, as a ConfigError
    unknown = sorted(set(args) - {"discover"})
    if unknown:
        raise ConfigError(f"space_args: unknown {unknown[0]!r}; allowed: discover")
    return FunctionSpace(name=name, reference=name, **args)


def components(c: RunConfig) -> tuple[Space, Strategy, Evaluator]:
    """The space, strategy and evaluator a config names, built through the registry. The
    evaluator receives the config fields its constructor declares (plus ``evaluator_args``)."""
    space = make_space(c.space, c.space_args)
    strategy_kwargs = {"space": space, "seed": c.seed, **c.strategy_args}
    if c.objectives and "objectives" in parameters("strategy", c.strategy):
        strategy_kwargs.setdefault("objectives", c.objectives)
    strategy: Strategy = _create("strategy", c.strategy, strategy_kwargs)
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
    evaluator: Evaluator = _create("evaluator", c.evaluator, {**kwargs, **c.evaluator_args})
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


def _create(kind: str, name: str, kwargs: dict[str, Any]) -> Any:
    try:
        return create(kind, name, **kwargs)
    except NasbeyondError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{kind}_args: {name}: {e}") from None
