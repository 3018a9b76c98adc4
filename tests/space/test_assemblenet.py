"""The assemblenet space beyond the contract: the hand-made archs, every sampled arch runs, the
paper's mutations, the Lamarckian pruning and evolution breeding from it, the drawing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import create
from nasbeyond.report.draw import to_svg
from nasbeyond.space.assemblenet import (
    MUTATIONS,
    AssembleNetSpace,
    late_fusion,
    live_blocks,
    single_stream,
)
from nasbeyond.trial import TaskShape, Trial

TASK = TaskShape((2, 4, 8, 8), 3)
SPACE = AssembleNetSpace()


def test_hand_made_archs_are_members_and_use_their_streams():
    torch.manual_seed(0)
    x = torch.randn(3, *TASK.input_shape)
    two, one = SPACE.build(late_fusion(), TASK).eval(), SPACE.build(single_stream(), TASK).eval()
    assert set(two.stems) == {"s0", "s1"} and set(one.stems) == {"s0"}
    assert len(two.outputs) == 2 and len(one.outputs) == 1
    y = one(x)
    x[:, 1] = torch.randn_like(x[:, 1])  # the frames-only network ignores the second stream
    assert torch.equal(one(x), y) and y.shape == (3, 3)
    assert set(two.connection_weights()) == {
        *(f"b{i}<-b{i - 1}" for i in (1, 2, 3, 5, 6, 7)),
        "b0<-s0",
        "b4<-s1",
        "out<-b3",
        "out<-b7",
    }


def test_every_sampled_arch_builds_and_runs():
    rng = np.random.default_rng(0)
    x = torch.randn(2, *TASK.input_shape)
    for _ in range(8):
        arch = SPACE.sample(rng)
        assert live_blocks(arch) == {b["id"] for b in arch["blocks"]}  # nothing wasted
        model = SPACE.build(arch, TASK)
        assert model(x).shape == (2, 3)
        assert all(0 < w < 1 for w in model.connection_weights().values())


def test_the_papers_mutations_are_valid():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(120):
        arch = SPACE.sample(rng)
        child, move = SPACE.mutate_named(arch, rng)
        SPACE.validate(child)
        seen.add(move)
        before = {b["id"]: b for b in arch["blocks"]}
        after = {b["id"]: b for b in child["blocks"]}
        if move == "split":
            (new,) = set(after) - set(before)
            twin = next(i for i in after if i in before and after[i] != before[i])
            assert after[new]["inputs"] == after[twin]["inputs"]
            assert after[new]["channels"] + after[twin]["channels"] == before[twin]["channels"]
        elif move == "merge":
            (gone,) = set(before) - set(after)
            assert all(f"b{gone}" not in b["inputs"] for b in child["blocks"])
        elif move in ("add_connection", "remove_connection"):
            delta = sum(len(b["inputs"]) for b in child["blocks"]) - sum(
                len(b["inputs"]) for b in arch["blocks"]
            )
            assert delta == (1 if move == "add_connection" else -1)
    assert seen == set(MUTATIONS)


def test_pruning_removes_weak_connections_and_keeps_the_strongest():
    arch = {
        "blocks": [
            {"id": 0, "level": 1, "channels": 8, "dilation": 1, "inputs": ["s0", "s1"]},
            {"id": 1, "level": 2, "channels": 8, "dilation": 2, "inputs": ["s0", "s1", "b0"]},
            {"id": 2, "level": 3, "channels": 8, "dilation": 1, "inputs": ["b1"]},
            {"id": 3, "level": 4, "channels": 8, "dilation": 4, "inputs": ["s1", "b2"]},
        ],
        "next_id": 4,
    }
    weights = {
        "b0<-s0": 0.1,
        "b0<-s1": 0.2,  # both weak: the stronger stays
        "b1<-s0": 0.9,
        "b1<-s1": 0.39,  # below prune_below=0.4: cut
        "b1<-b0": 0.4,  # at the threshold: kept
        "b2<-b1": 0.05,  # a block's only input stays
        "b3<-s1": 0.7,  # b3<-b2 not reported: kept
    }
    pruned = SPACE.after_training(arch, {"connections": weights, "val_acc": 0.5})
    assert [b["inputs"] for b in pruned["blocks"]] == [["s1"], ["s0", "b0"], ["b1"], ["s1", "b2"]]
    assert arch["blocks"][0]["inputs"] == ["s0", "s1"]  # the input is left alone
    assert SPACE.after_training(arch, {"val_acc": 0.5}) == arch  # no weights: unchanged


def test_evolution_breeds_from_the_pruned_arch():
    strategy = create(
        "strategy", "evolution", space=SPACE, seed=0, population_size=2, sample_size=1
    )
    arch = strategy.ask()
    weights = {f"b{b['id']}<-{s}": 0.01 for b in arch["blocks"] for s in b["inputs"]}
    strategy.tell(Trial(1, arch, "ok", 0.5, {"connections": weights}))
    member = strategy.state_dict()["population"][0][0]
    assert member == SPACE.after_training(arch, {"connections": weights})
    assert all(len(b["inputs"]) == 1 for b in member["blocks"])


def test_graph_draws_every_stream_block_and_the_classifier():
    (title, nodes), *_ = SPACE.graph(late_fusion())
    assert "8 blocks, 8 connections" in title
    assert [n[0] for n in nodes[:2]] == ["s0 frames", "s1 diff"] and nodes[-1][0] == "classifier"
    assert len(nodes[-1][1]) == 2  # the two towers' level-4 blocks
    svg = to_svg(SPACE.graph(late_fusion()))
    assert svg.startswith("<svg") and "s1 diff" in svg and "b7 L4 16c d2" in svg


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda a: a["blocks"][1].update(inputs=["b4"]), "input 'b4'"),  # not below it
        (lambda a: a["blocks"][0].update(dilation=3), "dilation 3"),
        (lambda a: a["blocks"][0].update(channels=6), "channels 6"),
        (lambda a: a.update(blocks=[b for b in a["blocks"] if b["level"] < 4]), "level 4 has 0"),
        (lambda a: a["blocks"][0].update(inputs=["s2"]), "input 's2'"),
        (lambda a: a["blocks"][0].update(inputs=[]), "non-empty"),
    ],
)
def test_validate_names_the_bad_field(edit, match):
    arch = late_fusion()
    edit(arch)
    with pytest.raises(SpaceError, match=match):
        SPACE.validate(arch)


def test_build_needs_clips_of_its_streams():
    with pytest.raises(SpaceError, match="needs clips"):
        SPACE.build(late_fusion(), TaskShape((1, 28, 28), 10))
    with pytest.raises(SpaceError, match="streams = 1"):
        AssembleNetSpace(streams=1).build(single_stream(), TASK)
