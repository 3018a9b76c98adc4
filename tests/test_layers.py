"""The house's shape: imports point down the layers (import-linter, in `make lint`), no module
import circle anywhere in the package, and the registry's table matches what modules register."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nasbeyond.registry import _REGISTRY, BUILTINS, KINDS

grimp = pytest.importorskip("grimp")


def import_cycles(package: str) -> list[list[str]]:
    """Strongly connected components of more than one module in the import graph (Tarjan)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the package's ~70 modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in sorted(edges):
        if m not in index:
            visit(m)
    return found


def test_no_import_circle():
    assert import_cycles("nasbeyond") == []


def test_the_cycle_finder_finds_a_circle(tmp_path, monkeypatch):
    pkg = tmp_path / "circlepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from circlepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from circlepkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("circlepkg") == [["circlepkg.a", "circlepkg.b"]]


@pytest.mark.parametrize("kind", KINDS)
def test_builtin_table_matches_what_modules_register(kind):
    import importlib

    for name, module in BUILTINS[kind].items():
        importlib.import_module(module)
        obj = _REGISTRY[kind].get(name)
        assert obj is not None, f"{module} does not register {kind} {name!r}"
        assert obj.__module__ == module, f"{kind} {name!r} lives in {obj.__module__}"


def test_asking_for_names_loads_no_builtin():
    code = (
        "import sys; from nasbeyond.registry import KINDS, names; [names(k) for k in KINDS]; "
        "print(sorted(m for m in sys.modules if m.startswith('nasbeyond')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['nasbeyond', 'nasbeyond.exceptions', 'nasbeyond.registry']"


def test_a_dataset_loads_without_spaces_strategies_or_the_loop():
    code = (
        "import sys; from nasbeyond.registry import lookup; lookup('dataset', 'digits'); "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('nasbeyond.')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(eval(out.stdout))
    assert not loaded & {"space", "strategy", "run", "train", "evaluate", "augment", "cli"}
