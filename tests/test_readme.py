"""README's commands run as written, in the order written (issue 13): every `nasbeyond ...` line
of README's plain code blocks, scaled down where a flag allows (fewer trials, a fraction of an
epoch, trials in this process, the first 1,500 images of Fashion-MNIST), in one fresh
directory. `RUN_DIR` is the directory of the latest search above it; a `$ nasbeyond ...` line
must print the error README shows below it. Only the cluster command is left out (it needs a
Ray cluster), and is named here."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from nasbeyond.cli import main
from nasbeyond.data.builtin import FASHION_MNIST_DIR, read_idx
from nasbeyond.space import make_space

ROOT = Path(__file__).resolve().parents[1]
NEEDS_A_CLUSTER = "--address auto"
FAST_SEARCH = ["--space", "mlp", "--dataset", "digits"]  # what "nasbeyond search ..." stands for


def code_blocks(language: str) -> list[str]:
    """The text of README's fenced blocks opened with ```LANGUAGE ("" for plain ones)."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            if current is None:
                current = [] if line[3:].strip() == language else None
                if current is None:  # a block of another language: skip to its end
                    current = ["\0skip"]
            else:
                if current[:1] != ["\0skip"]:
                    blocks.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def readme_commands() -> list[tuple[str, str | None]]:
    """(command, expected error line or None), continuation lines joined, comments dropped."""
    out: list[tuple[str, str | None]] = []
    for block in code_blocks(""):  # plain blocks: commands and their output
        lines = block.replace("\\\n", " ").splitlines()
        for i, line in enumerate(lines):
            expected = None
            if line.startswith("$ nasbeyond "):
                line = line[2:]
                expected = lines[i + 1] if i + 1 < len(lines) else ""
            if not line.startswith("nasbeyond "):
                continue
            line = re.sub(r"\s+#.*$", "", line)  # a trailing comment
            line = re.sub(r"\s\[(?:--|flags )[^\]]*\]", "", line)  # optional: [--top 10]
            out.append((" ".join(line.split()), expected))
    return out


MINI_FASHION_MNIST = "fashion-mnist-mini"


def write_mini_fashion_mnist(root: Path, train: int = 1000, test: int = 500) -> Path:
    """The first ``train`` and ``test`` images of the installed Fashion-MNIST (Debian's IDX
    files, read as the dataset reads them) as plain IDX files in ``root``: the README's
    commands load, train, validate and test on it in a fraction of the full set's time."""
    root.mkdir()
    for split, n in (("train", train), ("t10k", test)):
        for kind, rank in (("images", 3), ("labels", 1)):
            name = f"{split}-{kind}-idx{rank}-ubyte"
            data = read_idx(Path(FASHION_MNIST_DIR) / f"{name}.gz")[:n]
            header = bytes([0, 0, 8, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape)
            (root / name).write_bytes(header + data.tobytes())
    return root


def scaled(argv: list[str], last_run: str | None, tmp: Path) -> list[str]:
    """A README command made runnable and fast: placeholders filled, budgets cut."""
    out: list[str] = []
    for a in argv:
        if a == "...":
            out += FAST_SEARCH
            continue
        if "RUN_DIR" in a:
            assert last_run is not None, "README uses RUN_DIR before any search"
            a = a.replace("RUN_DIR", last_run)
        if a == "torchscript|onnx":
            a = "torchscript"
        if a == "ARCH_JSON":
            a = json.dumps(make_space("darts", {}).sample(np.random.default_rng(0)))
        out.append(a)
    command = out[1] if len(out) > 1 else ""
    sub = out[2] if len(out) > 2 else ""
    if command == "search" or (command == "augment" and sub in ("search", "randaugment-grid")):
        table = "nb201-table" in out
        out += ["--trials", "2"] if "--budget-seconds" not in out else []
        out += [] if table else ["--epochs", "0.05", "--final-epochs", "0"]
        if command == "augment":
            out += ["--evaluator-arg", "subset=300"]
        if "--budget-seconds" in out:  # a lookup table: keep the budget, cap the trials
            out += ["--trials", "3"]
        if "--max-params" in out:  # archs over the limit cost nothing: enough to meet it
            out += ["--trials", "12"]
        # Trials in this process: a worker's start-up (a torch import each) is most of a
        # 2-trial search's time. The local executor's workers are tested in test_cli.py.
        if "--executor" not in out:
            out += ["--executor", "inline"]
        if "fashion-mnist" in out and "--data-dir" not in out:
            out += ["--data-dir", str(tmp / MINI_FASHION_MNIST)]
    if command == "latency":
        out += ["--archs", "3", "--output", str(tmp / "latency.json")]
    if command == "tabular" and sub == "fit" and "--time-limit" in out:  # a shorter search,
        out[out.index("--time-limit") + 1] = "15"  # in process: no worker start-up under load
        out += ["--workers", "0"]
    if command in ("serve", "dashboard") and "--check" not in out:  # build the app; no serving
        out.append("--check")
    return out[1:]


COMMANDS = readme_commands()


def test_readme_has_the_commands_this_test_reads():
    assert len(COMMANDS) >= 20
    assert any(c.startswith("nasbeyond search --config") for c, _ in COMMANDS)


def test_every_readme_command_runs_in_order(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    write_mini_fashion_mnist(tmp_path / MINI_FASHION_MNIST)
    (tmp_path / "run.yaml").write_text(code_blocks("yaml")[0])
    monkeypatch.chdir(tmp_path)
    last_run: str | None = None
    for command, expected in COMMANDS:
        if NEEDS_A_CLUSTER in command:
            continue
        argv = scaled(shlex.split(command), last_run, tmp_path)
        code = main(argv)
        out, err = capsys.readouterr()
        if expected is not None:
            assert code == 2 and err.strip() == expected, (command, err)
            continue
        assert code == 0, (command, argv, err[-2000:])
        found = re.search(r"run_dir=(\S+)", err)
        if argv[0] in ("search", "augment") and found:
            last_run = found.group(1)


@pytest.mark.parametrize(
    ("line", "want"),
    [
        (
            "nasbeyond show RUN_DIR --format torchscript|onnx",
            ["show", "runs/x", "--format", "torchscript"],
        ),
        ("nasbeyond search ... --reward mnasnet", ["search", "--space", "mlp"]),
    ],
)
def test_placeholders_are_filled(line, want, tmp_path):
    got = scaled(shlex.split(line), "runs/x", tmp_path)
    assert got[: len(want)] == want
