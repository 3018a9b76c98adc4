"""The loop: a strategy proposes, an executor evaluates, the store records, the strategy learns.

``run`` is the only loop in nasbeyond. A real search runs it with a ``SQLiteStore`` in a run
directory (resumable); benchmark mode runs the same function with a ``MemoryStore``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from nasbeyond.config import RunConfig
from nasbeyond.exceptions import ConfigError
from nasbeyond.run.executor import Executor, InlineExecutor
from nasbeyond.run.progress import ProgressBar
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
    progress: Progress | bool | None = None,
    shape: Callable[[Result], Result] | None = None,
) -> Trial | None:
    """Evaluate proposals of ``strategy`` until ``trials`` trials have finished (ok or failed),
    the finished trials' summed ``cost_s`` reaches ``budget_seconds`` (the trial that crosses
    it counts), or the strategy is exhausted. Returns the best trial.

    Resumable: a strategy checkpoint in ``store`` is loaded first, and trials the store still
    marks as running (the run was killed) are evaluated again before anything new is asked.

    Args:
        progress: ``True`` prints the CLI's progress line to stderr; a callable receives
            (trial, finished, total, best) after every trial; None or False: silent.

    A store with a run directory also records, on first use, the settings that name the
    space, strategy, evaluator and executor (``RunConfig.of``) and the task shape, so that
    ``nasbeyond show | draw | export | resume`` open a run started from Python as they open one
    started by the CLI. Components that are not registered cannot be named; the run then goes
    on and the store keeps the reason in ``settings_unsaved``.
    """
    if trials is None and budget_seconds is None:
        raise ConfigError("trials: give a number of trials, a budget in seconds, or both")
    executor = executor or InlineExecutor()
    budget = budget or Budget()
    run_dir = None if store.run_dir is None else str(store.run_dir)
    state = store.get("strategy_state")
    if state is not None:
        strategy.load_state_dict(state)
    retry = store.trials("running")
    finished, spent = store.count_finished(), store.total_cost()
    best = next(iter(store.best(1)), None)
    if store.run_dir is not None:
        _record_settings(store, space, strategy, evaluator, executor, trials, budget_seconds, seed)
    if progress is True:
        progress = ProgressBar(finished)
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
                    store.start_trial(t.arch, t.budget, strategy.state_dict, trial_id=t.id)
                    submit(t.id, Proposal(t.arch, t.budget, t.parent))
                    continue
                proposal = None if exhausted else strategy.propose()
                if proposal is None:
                    exhausted = True
                    break
                space.validate(proposal.arch)
                epochs = proposal.budget if proposal.budget is not None else budget.epochs
                tid = store.start_trial(
                    proposal.arch, epochs, strategy.state_dict, parent=proposal.parent
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
                trial = store.finish_trial(tid, result, strategy.state_dict)
                finished += 1
                spent += trial.cost_s
                if trial.status == "ok" and (best is None or _better(trial, best)):
                    best = trial
                if progress:
                    progress(trial, finished, trials or 0, best)  # 0: no trial limit
    finally:
        executor.shutdown()
    return best


def _better(a: Trial, b: Trial) -> bool:
    """``Store.best``'s order: higher reward, then the earlier trial (so the best ``run`` returns
    is the best ``show`` lists, whatever order parallel results came back in)."""
    return (a.reward or 0.0, -a.id) > (b.reward or 0.0, -b.id)


def _record_settings(
    store: Store,
    space: Space,
    strategy: Strategy,
    evaluator: Evaluator,
    executor: Executor,
    trials: int | None,
    budget_seconds: float | None,
    seed: int,
) -> None:
    task = getattr(evaluator, "task", None)
    if callable(task) and store.get("task") is None:
        store.put("task", dataclasses.asdict(task()))
    if store.get("config") is not None:
        return
    try:
        config = RunConfig.of(space, strategy, evaluator, run_dir=str(store.run_dir))
    except ConfigError as e:
        store.put("settings_unsaved", str(e))
        return
    config = config.replace(
        trials=trials, budget_seconds=budget_seconds, seed=seed, **_executor_settings(executor)
    )
    store.put("config", config.to_dict())


def _executor_settings(executor: Executor) -> dict[str, Any]:
    """The RunConfig fields that name ``executor`` (the CLI's --executor, --workers, ...)."""
    kind = {"InlineExecutor": "inline", "LocalExecutor": "local", "RayExecutor": "ray"}
    out: dict[str, Any] = {"executor": kind.get(type(executor).__name__, "local")}
    for name in ("workers", "trial_timeout", "max_retries", "address"):
        if getattr(executor, name, None) is not None:
            out[name] = getattr(executor, name)
    return out
