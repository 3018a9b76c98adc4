"""Drawings: every space's archs become well-formed SVG naming their parts; the CLI draws a
run's best trial or an --arch."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from nasbeyond.cli import main
from nasbeyond.registry import names
from nasbeyond.report.draw import to_svg
from tests.conftest import make_space


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
