"""The strategy contract: on every space, only valid archs, reproducible by seed, resumable from
its JSON state, and sound under adversarial results (failures, duplicates, NaN metrics, results
out of order). Subclass ``StrategyContract`` in a pytest file to run it on a strategy."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import pytest

from nasbeyond.arch import arch_key
from nasbeyond.space import Space
from nasbeyond.strategy import Strategy
from nasbeyond.strategy._base import ok_reward
from nasbeyond.testing._adversarial import SCENARIOS, adversarial_trials
from nasbeyond.testing._common import OneTorchThread
from nasbeyond.testing._toy import pseudo_reward
from nasbeyond.trial import Proposal, Trial

StrategyFactory = Callable[..., Strategy]  # called as factory(space=..., seed=...)
StrategyCase = tuple[str, StrategyFactory, Space]  # test id, factory, space

ROUNDS, BATCH = 2, 4  # adversarial rounds of BATCH proposals told together
_cases: dict[type, Sequence[StrategyCase]] = {}  # built once per class, spaces shared


def drive(strategy: Strategy, n: int, start_id: int = 1) -> list[str]:
    """Propose and tell ``n`` times, one at a time, every trial ok with the deterministic
    ``pseudo_reward``; returns ``arch key@budget`` of each proposal."""
    keys = []
    for i in range(start_id, start_id + n):
        p = strategy.propose()
        assert p is not None, f"proposal {i - start_id + 1} of {n} is None (exhausted)"
        strategy.space.validate(p.arch)
        keys.append(arch_key(p.arch) + f"@{p.budget}")
        r = pseudo_reward(p.arch)
        metrics = {"val_acc": r, "latency_ms": 1 + r}  # every objective NSGA-II defaults to
        strategy.tell(Trial(i, p.arch, "ok", r, metrics, budget=p.budget, parent=p.parent))
    return keys


class _Ledger:
    """What the loop has told a strategy, to judge its next proposals by."""

    def __init__(self) -> None:
        self.ok: dict[int, bool] = {}  # trial id -> counted as a success
        self.key: dict[int, str] = {}  # trial id -> arch key
        self.failed: set[str] = set()  # archs whose latest told trial failed

    def told(self, t: Trial) -> None:
        key, good = arch_key(t.arch), ok_reward(t) is not None
        self.ok[t.id], self.key[t.id] = good, key
        if good:
            self.failed.discard(key)
        else:
            self.failed.add(key)

    def judge(self, p: Proposal | None, space: Space, where: str) -> Proposal:
        assert p is not None, f"{where}: the strategy stopped proposing"
        space.validate(p.arch)
        assert json.loads(json.dumps(p.arch)) == p.arch, f"{where}: the arch is not JSON"
        key = arch_key(p.arch)
        if p.parent is not None:
            assert p.parent in self.ok, f"{where}: continues trial {p.parent}, never told"
            assert self.ok[p.parent], f"{where}: continues trial {p.parent}, which failed"
        continuation = p.parent is not None and self.key[p.parent] == key
        assert key not in self.failed or continuation, (
            f"{where}: proposes again an arch whose latest trial failed"
        )
        return p


class StrategyContract(OneTorchThread):
    """Checks that every search strategy must pass, on every space in ``spaces``. Subclass it
    in a test file::

        from nasbeyond.testing import StrategyContract
        from my_package import MyStrategy

        class TestMyStrategy(StrategyContract):
            strategy = MyStrategy  # anything called as strategy(space=..., seed=...)
            spaces = ("mlp", "nb201")  # optional; default: every registered space

    ``spaces`` holds registered names, ``FILE.py:FUNCTION`` references or Space objects. To
    check several strategies with one class, override ``cases``. Needs pytest.
    """

    strategy: ClassVar[StrategyFactory]
    spaces: ClassVar[Sequence[str | Space] | None] = None

    def cases(self) -> Sequence[StrategyCase]:
        """What the checks run on: ``(test id, strategy factory, space)`` triples; by default
        the class's ``strategy`` on each of ``spaces``."""
        from nasbeyond.registry import names
        from nasbeyond.space import make_space

        factory = getattr(type(self), "strategy", None)
        if not callable(factory):
            raise TypeError(
                f"{type(self).__name__}: set strategy = <a Strategy class or factory> on the "
                "class, or override cases()"
            )
        label = getattr(factory, "__name__", type(self).__name__)
        spaces = [
            s if isinstance(s, Space) else make_space(s) for s in self.spaces or names("space")
        ]
        return [(f"{label}-{s.name}", factory, s) for s in spaces]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "strategy" in metafunc.fixturenames:
            if type(self) not in _cases:
                _cases[type(self)] = self.cases()
            cases = _cases[type(self)]
            metafunc.parametrize(
                ("strategy", "space"), [(f, s) for _, f, s in cases], ids=[i for i, _, _ in cases]
            )
        if "scenario" in metafunc.fixturenames:
            metafunc.parametrize("scenario", SCENARIOS)

    def test_reproducible_and_resumable(self, strategy: StrategyFactory, space: Space) -> None:
        # 12 proposals before the checkpoint: past the random start of population methods
        whole = drive(strategy(space=space, seed=3), 20)
        first = strategy(space=space, seed=3)
        head = drive(first, 12)
        state = json.loads(json.dumps(first.state_dict(), allow_nan=False))  # kept as JSON
        resumed = strategy(space=space, seed=999)
        resumed.load_state_dict(state)
        assert head + drive(resumed, 8, start_id=13) == whole, "state_dict must restore exactly"
        other = drive(strategy(space=space, seed=4), 14)
        assert other != whole[:14], "the seed must matter"

    def test_adversarial_tells(
        self, strategy: StrategyFactory, space: Space, scenario: str
    ) -> None:
        """Told failures, duplicates, NaN metrics, equal rewards or results out of order, the
        strategy keeps proposing valid archs, never continues a failed trial (so no failure
        ranks above an ok trial when it promotes or inherits) nor proposes a failed arch
        again, and its state still round-trips through JSON."""
        s = strategy(space=space, seed=0)
        rng = np.random.default_rng(0)
        ids = itertools.count(1)
        ledger = _Ledger()
        for r in range(ROUNDS):
            batch = []
            for b in range(BATCH):
                p = ledger.judge(s.propose(), space, f"{scenario}, round {r}, proposal {b}")
                batch.append((next(ids), p))
            for t in adversarial_trials(scenario, batch, rng, lambda: next(ids), space):
                s.tell(t)
                ledger.told(t)
        state = json.loads(json.dumps(s.state_dict(), allow_nan=False))  # strict JSON
        resumed = strategy(space=space, seed=999)
        resumed.load_state_dict(state)
        start = next(ids)
        assert drive(resumed, 2, start_id=start) == drive(s, 2, start_id=start), (
            f"{scenario}: state_dict must restore exactly"
        )
