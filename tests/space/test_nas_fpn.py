"""The NAS-FPN space and its detector: the hand-made FPN's wiring, output shapes, the loss
learning a tiny batch, detection decoding and per-class NMS, every sampled pyramid building,
mutations, ONNX export equal to PyTorch, and the drawing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from nasbeyond.exceptions import SpaceError
from nasbeyond.export import FORMATS, export_model
from nasbeyond.report.draw import to_svg
from nasbeyond.space import NasFPNSpace, fpn_arch
from nasbeyond.space.nas_fpn import batched_nms, unread_inputs
from nasbeyond.trial import TaskShape

TASK = TaskShape((1, 32, 32), 3)


def _scene(n: int = 4) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """``n`` 32x32 images, each a bright square on noise, with its box and class."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(n, 1, 32, 32, generator=gen) * 0.1
    boxes, labels = [], []
    for i in range(n):
        x0, y0, size = 2 + 3 * i, 4 + 2 * i, 10 + 2 * i
        images[i, 0, y0 : y0 + size, x0 : x0 + size] += 2.0
        boxes.append(torch.tensor([[x0, y0, x0 + size, y0 + size]], dtype=torch.float32))
        labels.append(torch.tensor([i % 3]))
    return images, boxes, labels


def test_fpn_is_a_point_of_the_space_and_sums_top_down():
    space = NasFPNSpace()
    arch = space.validate(fpn_arch())
    assert [c["op"] for c in arch["cells"]] == ["sum"] * 3
    assert unread_inputs(arch) == [[], [], []]  # every input map is read by the top-down path
    model = space.build(arch, TASK).eval()
    gen = torch.Generator().manual_seed(1)
    pool = [torch.randn(1, 32, s, s, generator=gen) for s in (4, 2, 1)]  # C3, C4, C5 projected
    with torch.no_grad():
        base = model.merge(pool)
        for changed, moved in ((0, {0}), (1, {0, 1}), (2, {0, 1, 2})):
            bumped = [p.clone() for p in pool]
            bumped[changed] += 1.0
            out = model.merge(bumped)
            # a change of C_l reaches P_l and every finer level below it, never a coarser one
            diff = {k for k in range(3) if not torch.allclose(out[k], base[k])}
            assert diff == moved, (changed, diff)
    labels = [label for label, _ in space.graph(arch)[0][1]]
    assert labels[4:] == ["P5 out: sum", "P4 out: sum", "P3 out: sum"]
    assert space.graph(arch)[0][1][5][1] == [(1, ""), (4, "up x2")]  # P4 = C4 + up(P5)


def test_forward_loss_and_detect_shapes():
    space = NasFPNSpace(cells=5, channels=16)
    model = space.build(space.sample(np.random.default_rng(0)), TASK)
    images, boxes, labels = _scene(2)
    outs = model(images)
    assert [tuple(o.shape) for o in outs] == [(2, 8, 4, 4), (2, 8, 2, 2), (2, 8, 1, 1)]
    assert torch.all(outs[0][:, 3:7] > 0)  # box distances are positive pixels
    loss = model.loss(images, boxes, labels)
    assert loss.ndim == 0 and torch.isfinite(loss)
    found = model.eval().detect(images, score_threshold=0.0, max_detections=7)
    assert len(found) == 2
    for f in found:
        assert f["boxes"].shape == (7, 4) and f["boxes"].dtype == torch.float32
        assert f["scores"].shape == (7,) and f["labels"].dtype == torch.int64
        assert torch.all(f["scores"][:-1] >= f["scores"][1:])
        assert f["boxes"].min() >= 0 and f["boxes"].max() <= 32
        assert torch.all(f["boxes"][:, 2:] >= f["boxes"][:, :2])
    empty = model.detect(images, score_threshold=1.0)
    assert all(len(f["boxes"]) == 0 for f in empty)


def test_loss_decreases_and_the_detector_finds_its_boxes():
    torch.manual_seed(0)
    model = NasFPNSpace().build(fpn_arch(), TASK)
    images, boxes, labels = _scene(4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = model.loss(images, boxes, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    found = model.eval().detect(images, score_threshold=0.05, max_detections=10)
    hits = 0
    for f, b, lb in zip(found, boxes, labels, strict=True):
        if len(f["boxes"]):
            top = f["boxes"][0]
            inter = (torch.min(top[2:], b[0, 2:]) - torch.max(top[:2], b[0, :2])).clamp(min=0)
            union = (top[2:] - top[:2]).prod() + (b[0, 2:] - b[0, :2]).prod() - inter.prod()
            hits += int(inter.prod() / union > 0.5 and f["labels"][0] == lb[0])
    assert hits >= 3, found


def test_batched_nms_suppresses_within_a_class_only():
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [20, 20, 30, 30]], dtype=torch.float32
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([0, 0, 1, 0])
    assert batched_nms(boxes, scores, labels, 0.5).tolist() == [0, 2, 3]
    assert batched_nms(boxes, scores, labels, 0.9).tolist() == [0, 1, 2, 3]
    assert len(batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0).long(), 0.5)) == 0


@pytest.mark.parametrize("cells", [3, 5])
def test_every_sampled_and_mutated_pyramid_builds(cells):
    space = NasFPNSpace(cells=cells, channels=8, head_convs=1)
    rng = np.random.default_rng(cells)
    x = torch.randn(1, 1, 40, 24)  # not a power of two: levels 5 x 3, 3 x 2, 2 x 1, 1 x 1
    for _ in range(12):
        arch = space.mutate(space.sample(rng), rng)
        outs = space.build(arch, TaskShape((1, 40, 24), 2)).eval()(x)
        assert [tuple(o.shape[2:]) for o in outs] == [(5, 3), (3, 2), (2, 1)]
        extra = unread_inputs(arch)
        assert all(not e for e in extra[: cells - 3])  # only output cells add unread maps


def test_bad_archs_and_arguments_name_the_field():
    space = NasFPNSpace()
    bad = fpn_arch()
    bad["cells"][0]["inputs"] = [2, 2]
    with pytest.raises(SpaceError, match=r"cells\[0\].inputs .* two different"):
        space.validate(bad)
    bad = fpn_arch()
    bad["cells"][2]["level"] = 4
    with pytest.raises(SpaceError, match="levels must be 3, 4 and 5"):
        space.validate(bad)
    with pytest.raises(SpaceError, match="cells must be a list of 5"):
        NasFPNSpace(cells=5).validate(fpn_arch())
    with pytest.raises(SpaceError, match="channels"):
        NasFPNSpace(channels=12)
    with pytest.raises(SpaceError, match="image"):
        space.build(fpn_arch(), TaskShape((16,), 3))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_matches_pytorch(tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    space = NasFPNSpace(cells=5, channels=16, head_convs=1)
    model = space.build(space.sample(np.random.default_rng(2)), TASK)
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        model.train()(torch.randn(8, *TASK.input_shape))
    done = export_model(model, TASK.input_shape, fmt, tmp_path / f"m{FORMATS[fmt]}")
    assert done.path.exists() and done.max_abs_diff <= 1e-5


def test_draw_gives_a_graph_of_levels():
    space = NasFPNSpace(cells=5)
    arch = space.sample(np.random.default_rng(3))
    svg = to_svg(space.graph(arch), "nas-fpn")
    texts = {t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
    assert {"C3 (P3 in)", "C6 (P6 in)"} <= texts
    assert sum(1 for t in texts if t and " out: " in t) == 3
