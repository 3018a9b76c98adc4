"""Property-based fuzzing of everything a user can hand us: run configs, arch JSON and CSV data.
Whatever the input, `nasbeyond ... --check` ends with status 0 (valid) or 2 with one line
starting "nasbeyond: error:" — never a traceback, never another status."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from dataclasses import fields
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasbeyond.cli import main
from nasbeyond.config import RunConfig

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = [f.name for f in fields(RunConfig)]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
SAFE = {"dataset": "digits", "space": "mlp", "executor": "inline"}  # keep valid runs cheap


def cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = int(e.code or 0)
    return code, err.getvalue()


def check_outcome(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nasbeyond: error: "), err
    assert "Traceback" not in err


@SETTINGS
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), values, max_size=6))
def test_fuzzed_config_files(cfg):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "run.yaml"
        path.write_text(yaml.safe_dump({**SAFE, **cfg}))
        check_outcome(*cli(["search", "--config", str(path), "--check"]))


@SETTINGS
@given(st.text(max_size=80))
def test_fuzzed_yaml_text(text):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "run.yaml"
        path.write_text(text)
        check_outcome(
            *cli(
                [
                    "search",
                    "--config",
                    str(path),
                    "--check",
                    "--dataset",
                    "digits",
                    "--space",
                    "mlp",
                ]
            )
        )


archs = st.one_of(
    values,
    st.fixed_dictionaries(
        {
            "widths": st.lists(st.sampled_from([32, 64, 7, "64", None]), max_size=5),
            "activation": st.sampled_from(["relu", "tanh", "swish", 3]),
            "dropout": st.sampled_from([0.0, 0.1, 0.5, "0"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "layers": st.lists(
                st.fixed_dictionaries(
                    {
                        "kh": st.sampled_from([1, 3, 4]),
                        "kw": st.sampled_from([3, 5, True]),
                        "filters": st.sampled_from([24, 25]),
                        "stride": st.sampled_from([1, 2, 0]),
                        "skips": st.lists(st.integers(-1, 4), max_size=2),
                    }
                ),
                max_size=4,
            )
        }
    ),
)


@SETTINGS
@given(archs, st.sampled_from(["mlp", "macro-cnn", "nb201", "evolution-cnn"]), st.booleans())
def test_fuzzed_arch_json(arch, space, garble):
    text = json.dumps(arch)
    if garble:
        text = text[: len(text) // 2]
    check_outcome(
        *cli(["evaluate", "--arch", text, "--space", space, "--dataset", "digits", "--check"])
    )


csv_cells = st.one_of(
    st.integers(-5, 5).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["", "a", "yes", '"', "1e999", " 2 "]),
)


@SETTINGS
@given(st.lists(st.lists(csv_cells, min_size=1, max_size=4), max_size=8), st.booleans())
def test_fuzzed_csv_files(rows, header):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "data.csv"
        lines = [",".join(f"c{i}" for i in range(len(rows[0])))] if header and rows else []
        path.write_text("\n".join(lines + [",".join(r) for r in rows]))
        check_outcome(
            *cli(
                ["search", "--dataset", "csv", "--data-dir", str(path), "--space", "mlp", "--check"]
            )
        )
