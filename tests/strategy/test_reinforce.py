import numpy as np

from nasbeyond.space import NB201Space
from nasbeyond.strategy import Reinforce
from nasbeyond.trial import Trial


def conv_share(arch):
    return sum(op == "nor_conv_3x3" for op in arch["edges"]) / 6


def test_controller_learns_what_is_rewarded():
    s = Reinforce(NB201Space(), seed=0, lr=0.05)
    before = np.mean([p[3] for p in s.probabilities()])  # P(nor_conv_3x3) per edge
    for i in range(300):
        a = s.ask()
        s.tell(Trial(i, a, "ok", conv_share(a)))
    after = np.mean([p[3] for p in s.probabilities()])
    assert before < 0.3 and after > 0.6


def test_failed_trials_teach_nothing():
    s = Reinforce(NB201Space(), seed=0, batch_size=1)
    weights = [p.clone() for p in s.controller.parameters()]
    s.tell(Trial(1, s.ask(), "failed", None, error="x"))
    assert all((a == b).all() for a, b in zip(weights, s.controller.parameters(), strict=True))
    assert s.state_dict()["pending"] == {}


def test_batch_of_m_samples_per_update():
    s = Reinforce(NB201Space(), seed=0, batch_size=3)
    archs = [s.ask() for _ in range(3)]
    s.tell(Trial(1, archs[0], "ok", 0.5))
    s.tell(Trial(2, archs[1], "ok", 0.7))
    assert len(s.state_dict()["batch"]) == 2 and s.baseline is None
    s.tell(Trial(3, archs[2], "ok", 0.9))
    assert s.state_dict()["batch"] == [] and s.baseline is not None


def test_nan_rewards_teach_nothing():
    s = Reinforce(NB201Space(), seed=0, batch_size=1)
    weights = [p.clone() for p in s.controller.parameters()]
    s.tell(Trial(1, s.ask(), "ok", float("nan")))
    assert all((a == b).all() for a, b in zip(weights, s.controller.parameters(), strict=True))
    assert s.state_dict()["batch"] == []
