"""Drawings: every space's archs become well-formed SVG naming their parts, with every text inside
the view box and no two texts overlapping (measured on many samples per space); cells run left to
right and chains down the page; the CLI draws a run's best trial or an --arch."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from nasbeyond.cli import main
from nasbeyond.registry import names
from nasbeyond.report.draw import to_svg
from nasbeyond.space import make_space as make_named_space
from nasbeyond.testing import make_space

SVG = "{http://www.w3.org/2000/svg}"
# A text's extent, estimated from its font size and length alone: a character is 0.6 font sizes
# wide (0.66 bold), the text 0.8 above its baseline and 0.2 below.
EM, EM_BOLD, ASCENT, DESCENT = 0.6, 0.66, 0.8, 0.2
SAMPLES = 40
LONG_TITLE = "trial 123 of runs/nb201-regularized-evolution-20250101-120000: reward 0.987654"


def text_boxes(root: ET.Element) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(text, (x0, y0, x1, y1)) of every <text>, by the estimate above."""
    default = float(root.get("font-size", "16"))
    boxes = []
    for t in root.iter(f"{SVG}text"):
        size = float(t.get("font-size", default))
        w = len(t.text or "") * size * (EM_BOLD if t.get("font-weight") == "bold" else EM)
        x, y = float(t.get("x", "0")), float(t.get("y", "0"))
        x0 = x - {"start": 0.0, "middle": w / 2, "end": w}[t.get("text-anchor", "start")]
        boxes.append((t.text or "", (x0, y - ASCENT * size, x0 + w, y + DESCENT * size)))
    return boxes


def layout_faults(svg: str) -> list[str]:
    """Every text outside the view box, and every pair of texts that overlap."""
    root = ET.fromstring(svg)
    vx, vy, vw, vh = map(
        float, root.get("viewBox", f"0 0 {root.get('width')} {root.get('height')}").split()
    )
    boxes = text_boxes(root)
    faults = [
        f"{text!r} outside the view box"
        for text, (x0, y0, x1, y1) in boxes
        if x0 < vx or y0 < vy or x1 > vx + vw or y1 > vy + vh
    ]
    for (a, (ax0, ay0, ax1, ay1)), (b, (bx0, by0, bx1, by1)) in combinations(boxes, 2):
        if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
            faults.append(f"{a!r} overlaps {b!r}")
    return faults


USER_SPACE = str(Path(__file__).resolve().parents[1] / "examples" / "user_space.py") + ":build"


def test_the_measure_finds_clipping_and_overlap():
    head = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100" font-size="12">'
    fits = head + '<text x="10" y="20">in</text><text x="10" y="50">out</text></svg>'
    assert layout_faults(fits) == []
    clipped = head + '<text x="150" y="20">nor_conv_3x3</text></svg>'
    assert layout_faults(clipped) == ["'nor_conv_3x3' outside the view box"]
    left = head + '<text x="20" y="20" text-anchor="end">avg_pool_3x3</text></svg>'
    assert layout_faults(left) == ["'avg_pool_3x3' outside the view box"]
    crowded = head + '<text x="10" y="20">skip</text><text x="30" y="25">none</text></svg>'
    assert layout_faults(crowded) == ["'skip' overlaps 'none'"]


@pytest.mark.parametrize("space_name", [*names("space"), USER_SPACE], ids=[*names("space"), "user"])
def test_no_text_is_clipped_or_overlaps(space_name):
    space = make_named_space(space_name)
    rng = np.random.default_rng(1)
    for n in range(SAMPLES):
        arch = space.sample(rng)
        if n % 2:
            arch = space.mutate(arch, rng)
        svg = to_svg(space.graph(arch), LONG_TITLE if n % 3 else "")
        assert layout_faults(svg) == [], (space_name, arch)


def test_nb201_cell_runs_left_to_right():
    space = make_space("nb201")
    arch = {
        "edges": [
            "nor_conv_3x3",
            "nor_conv_1x1",
            "avg_pool_3x3",
            "skip_connect",
            "nor_conv_3x3",
            "nor_conv_1x1",
        ]
    }
    root = ET.fromstring(to_svg(space.graph(space.validate(arch)), "nb201"))
    boxes = dict(text_boxes(root))
    x = [boxes[label][0] for label in ("in", "1", "2", "out")]
    assert x == sorted(x) and len(set(x)) == 4
    assert layout_faults(ET.tostring(root, encoding="unicode")) == []


def test_a_chain_runs_down_the_page():
    space = make_space("macro-cnn")
    arch = space.sample(np.random.default_rng(0))
    nodes = space.graph(arch)[0][1]
    boxes = dict(text_boxes(ET.fromstring(to_svg(space.graph(arch)))))
    tops = [boxes[label][1] for label, _ in nodes]
    assert tops == sorted(tops) and len(set(tops)) == len(tops)


@pytest.mark.parametrize("space_name", [*names("space"), "user"])
def test_every_space_draws(space_name):
    space = make_space(space_name)
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        panels = space.graph(arch)
        svg = to_svg(panels, "title")
        root = ET.fromstring(svg)  # well-formed XML
        texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
        for title, nodes in panels:
            assert title in texts
            for label, edges in nodes:
                assert label in texts
                assert all(0 <= src < len(nodes) for src, _ in edges)
                assert all(e in texts for _, e in edges if e)
        boxes = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("rx")]
        assert len(boxes) == sum(len(n) for _, n in panels)


def test_cell_graph_has_the_arch_edges():
    space = make_space("darts")
    arch = space.sample(np.random.default_rng(3))
    normal = dict(space.graph(arch))["normal cell"]
    for j, node in enumerate(arch["normal"]):
        assert normal[j + 2][1] == list(zip(node["inputs"], node["ops"], strict=True))
    assert [s for s, _ in normal[-1][1]] == [2, 3, 4, 5]  # DARTS concatenates every node


def test_cli_draw(tmp_path, capsys):
    run_dir = str(tmp_path / "r")
    argv = ["search", "--space", "macro-cnn", "--dataset", "digits", "--steps", "2"]
    assert main([*argv, "--trials", "2", "--executor", "inline", "--run-dir", run_dir]) == 0
    capsys.readouterr()
    assert main(["draw", run_dir]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith(".svg") and ET.parse(path).getroot().tag.endswith("svg")
    arch = json.dumps(make_space("nb201").sample(np.random.default_rng(0)))
    out = tmp_path / "cell.svg"
    assert main(["draw", "--space", "nb201", "--arch", arch, "--output", str(out)]) == 0
    assert "out" in out.read_text()
    assert main(["draw"]) == 2
    assert "draw: give a RUN_DIR, or --space and --arch" in capsys.readouterr().err
    assert main(["draw", "--space", "nb201", "--arch", '{"edges": []}']) == 2
