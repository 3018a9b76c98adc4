import json

import pytest

from nasbeyond.exceptions import ConfigError
from nasbeyond.space import MLPSpace
from nasbeyond.strategy import ASHA, Hyperband
from nasbeyond.strategy._halving import rungs
from nasbeyond.testing import pseudo_reward
from nasbeyond.trial import Trial


def test_rungs():
    assert rungs(1, 9, 3) == [1, 3, 9]
    assert rungs(1, 10, 3) == [1, 3, 9, 10]
    assert rungs(12, 200, 200 / 12) == [12, 200]


def step(s, tid, reward=None):
    p = s.propose()
    s.tell(
        Trial(
            tid,
            p.arch,
            "ok",
            pseudo_reward(p.arch) if reward is None else reward,
            budget=p.budget,
            parent=p.parent,
        )
    )
    return p


def test_asha_promotes_the_top_third_from_checkpoints():
    s = ASHA(MLPSpace(), seed=0, min_budget=1, max_budget=9, eta=3)
    first = [step(s, i, reward=i / 10) for i in range(1, 4)]
    assert all(p.budget == 1 and p.parent is None for p in first)
    promo = s.propose()  # 3 results at rung 0: the best (trial 3) moves to rung 1
    assert promo.budget == 3 and promo.parent == 3 and promo.arch == first[2].arch
    s.tell(Trial(4, promo.arch, "ok", 0.9, budget=3, parent=3))
    assert s.propose().budget == 1  # trial 3 is promoted already; nothing else qualifies


def test_hyperband_deals_most_new_archs_to_the_cheap_bracket():
    s = Hyperband(MLPSpace(), seed=0, min_budget=1, max_budget=9, eta=3)
    assert s.brackets == 3
    budgets = [s.propose().budget for _ in range(40)]  # no results: only new archs
    assert budgets.count(1) > budgets.count(3) > budgets.count(9) > 0


def test_state_round_trips_with_promotions_in_flight():
    s = ASHA(MLPSpace(), seed=0, min_budget=1, max_budget=9, eta=3)
    i = 0
    while True:  # run until the next proposal is a promotion, and keep it in flight
        i += 1
        pending = s.propose()
        if pending.parent is not None:
            break
        s.tell(Trial(i, pending.arch, "ok", pseudo_reward(pending.arch), budget=pending.budget))
    r = ASHA(MLPSpace(), seed=5, min_budget=1, max_budget=9, eta=3)
    r.load_state_dict(json.loads(json.dumps(s.state_dict())))
    for t in (s, r):
        t.tell(Trial(i, pending.arch, "ok", 0.5, budget=pending.budget, parent=pending.parent))
    assert [step(s, j) for j in range(i + 1, i + 9)] == [step(r, j) for j in range(i + 1, i + 9)]


@pytest.mark.parametrize("kw", [{"eta": 1}, {"min_budget": 5, "max_budget": 2}])
def test_bad_settings(kw):
    with pytest.raises(ConfigError):
        ASHA(MLPSpace(), **kw)


def test_failures_rank_last_and_ties_go_to_the_earlier_trial():
    s = ASHA(MLPSpace(), seed=0, min_budget=1, max_budget=9, eta=3)
    props = {i: s.propose() for i in range(1, 7)}
    # told out of order; a NaN reward is a failure, like a failed or a pruned trial
    outcomes = {4: ("ok", 0.5), 1: ("failed", None), 6: ("ok", float("nan"))}
    outcomes |= {2: ("ok", 0.5), 3: ("pruned", 0.9), 5: ("ok", 0.2)}
    for tid, (status, reward) in outcomes.items():
        s.tell(Trial(tid, props[tid].arch, status, reward, budget=1))
    # top third of six: two promotions, the tie at 0.5 broken by trial id, not tell order
    assert [s.propose().parent for _ in range(2)] == [2, 4]
    assert s.propose().parent is None  # the rest of the rung, failures included, stay


def test_a_rung_of_failures_promotes_nothing():
    s = ASHA(MLPSpace(), seed=0, min_budget=1, max_budget=9, eta=3)
    for tid in range(1, 7):
        p = s.propose()
        assert p.parent is None
        s.tell(Trial(tid, p.arch, "failed", None, error="x", budget=p.budget))
    assert s.propose().parent is None
