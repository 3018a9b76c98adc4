import numpy as np
import torch

from nasbeyond.run import InlineExecutor, SQLiteStore, run
from nasbeyond.space import EvolutionCNNSpace, TaskShape
from nasbeyond.space.evolution_cnn import MUTATIONS
from nasbeyond.strategy import LargeScaleEvolution
from nasbeyond.train import Trainer
from nasbeyond.train.trainer import inherit
from nasbeyond.trial import Trial


def test_every_mutation_of_the_paper_occurs():
    space = EvolutionCNNSpace(max_layers=5)
    rng = np.random.default_rng(0)
    arch, seen = space.trivial(), set()
    for _ in range(600):
        arch, move = space.mutate_named(arch, rng)
        seen.add(move)
    assert set(MUTATIONS) <= seen | {"alter_relu"} and "alter_relu" in seen
    assert 1e-4 <= arch["hparams"]["lr"] <= 1


def test_tournament_kills_the_loser_and_mutates_the_winner():
    s = LargeScaleEvolution(EvolutionCNNSpace(), seed=0, population_size=2)
    for tid, reward in ((1, 0.2), (2, 0.9)):
        p = s.propose()
        assert p.arch == EvolutionCNNSpace().trivial() and p.parent is None
        s.tell(Trial(tid, p.arch, "ok", reward))
    child = s.propose()
    assert [m[0] for m in s.state_dict()["population"]] == [2]  # trial 1 lost and died
    assert child.parent in (2, None)
    assert s.last_move == "reset_weights" or child.parent == 2


def test_inherit_copies_matching_layers_only(tmp_path):
    space = EvolutionCNNSpace()
    task = TaskShape((1, 8, 8), 10)
    parent = space.mutate(
        space.mutate(space.trivial(), np.random.default_rng(1)), np.random.default_rng(2)
    )
    model = space.build(parent, task)
    torch.save(model.state_dict(), tmp_path / "p.pt")
    same = space.build(parent, task)
    assert inherit(same, tmp_path / "p.pt") == (len(model.state_dict()), True)
    assert all(
        torch.equal(a, b)
        for a, b in zip(same.state_dict().values(), model.state_dict().values(), strict=True)
    )
    grown = dict(
        parent,
        layers=parent["layers"]
        + [
            {
                "id": parent["next_id"],
                "kh": 3,
                "kw": 3,
                "filters": 8,
                "stride": 1,
                "relu": True,
                "skips": [],
            }
        ],
        next_id=parent["next_id"] + 1,
    )
    bigger = space.build(space.validate(grown), task)
    n, complete = inherit(bigger, tmp_path / "p.pt")
    assert 0 < n < len(bigger.state_dict()) and not complete  # the new layer starts fresh


def test_search_with_weight_inheritance(tmp_path):
    space = EvolutionCNNSpace(max_layers=3)
    store = SQLiteStore(tmp_path)
    run(
        space,
        LargeScaleEvolution(space, seed=0, population_size=3),
        Trainer(space, dataset="digits", epochs=1),
        store=store,
        trials=9,
        executor=InlineExecutor(),
    )
    trials = store.trials()
    assert len(trials) == 9 and all(t.status == "ok" for t in trials)
    assert trials[0].reward > 0.8  # the trivial model: a linear classifier on the pixels
    children = [t for t in trials if t.parent is not None]
    assert children and all(t.metrics["inherited_tensors"] > 0 for t in children)


def test_a_failed_trivial_model_is_not_proposed_again():
    space = EvolutionCNNSpace()
    s = LargeScaleEvolution(space, seed=0, population_size=4)
    first = s.propose()
    assert first.arch == space.trivial()
    s.tell(Trial(1, first.arch, "failed", None, error="RuntimeError: out of memory"))
    rest = [s.propose().arch for _ in range(3)]
    assert all(a != space.trivial() for a in rest)  # random members of the space instead
    for a in rest:
        space.validate(a)


def test_failures_never_join_the_population():
    s = LargeScaleEvolution(EvolutionCNNSpace(), seed=0, population_size=2)
    for tid, status, reward in ((1, "ok", 0.2), (2, "failed", None), (3, "ok", float("nan"))):
        s.tell(Trial(tid, s.propose().arch, status, reward))
    assert [m[0] for m in s.state_dict()["population"]] == [1]
