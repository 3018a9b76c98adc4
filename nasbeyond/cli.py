"""The `nasbeyond` command: search, resume, show, export, list.

Every user error ends in one line on stderr naming the field and what is allowed, and exit
status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import fields
from typing import Any, NoReturn

import yaml

from nasbeyond._paths import is_file
from nasbeyond.cli_tabular import add_parsers as add_tabular_parsers
from nasbeyond.cli_tabular import dispatch as tabular_dispatch
from nasbeyond.config import FIELD_HELP, RunConfig
from nasbeyond.exceptions import ConfigError, NasbeyondError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"nasbeyond: error: {message} (see {self.prog} --help)\n")


def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        return k.strip(), yaml.safe_load(v)
    except yaml.YAMLError:
        return k.strip(), v


def _add_run_flags(p: argparse.ArgumentParser, overrides: dict[str, Any] | None = None) -> None:
    """One flag per RunConfig field, its help from FIELD_HELP; ``overrides``: a subcommand's own
    defaults (augment search runs another space, strategy and evaluator)."""
    sup = argparse.SUPPRESS
    defaults = dataclasses.replace(RunConfig(), **(overrides or {}))
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.name.endswith("_args"):
            p.add_argument(
                "--" + f.name[:-5].replace("_", "-") + "-arg",
                dest=f.name,
                type=_kv,
                action="append",
                default=sup,
                metavar="KEY=VALUE",
                help=f"{FIELD_HELP[f.name]} (repeatable; the value is YAML: 3, 0.5, [3,6], text)",
            )
            continue
        if str(f.type) == "bool":  # a switch: --channels-last
            p.add_argument(flag, action="store_true", default=sup, help=FIELD_HELP[f.name])
            continue
        typ: Any = str
        if "int" in str(f.type):
            typ = int
        elif "float" in str(f.type):
            typ = float
        shown = "" if default is None else f" (default: {default})"
        p.add_argument(flag, type=typ, default=sup, help=FIELD_HELP[f.name] + shown)


def _add_space_args(p: argparse.ArgumentParser) -> None:
    """``--space-arg KEY=VALUE`` for commands that name a space outside a run's settings."""
    p.add_argument(
        "--space-arg",
        dest="space_args",
        type=_kv,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an argument of the space (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nasbeyond", description="Neural architecture search and beyond.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("search", help="run a search")
    ev = sub.add_parser("evaluate", help="train and score one architecture")
    ev.add_argument("--arch", required=True, help="arch JSON, or a file holding it")
    for sp in (s, ev):
        sp.add_argument("--config", help="a YAML file of settings (flags override it)")
        sp.add_argument(
            "--check",
            action="store_true",
            help="validate the settings (and arch), load the data, build one model, and exit",
        )
        _add_run_flags(sp)
    r = sub.add_parser("resume", help="continue a stopped or killed search")
    r.add_argument("run_dir")
    r.add_argument("--trials", type=int, help="raise the number of trials (default: as saved)")
    r.add_argument("--workers", type=int, help="trials evaluated at once (default: as saved)")
    sh = sub.add_parser("show", help="the best trials of a run")
    sh.add_argument("run_dir")
    sh.add_argument("--top", type=int, default=10, help="best trials listed, >= 1 (default: 10)")
    sh.add_argument(
        "--failed", action="store_true", help="list failed trials too, then their whole errors"
    )
    e = sub.add_parser("export", help="export the best model with its trained weights")
    e.add_argument("run_dir")
    e.add_argument(
        "--format", default="torchscript", help="torchscript or onnx (default: torchscript)"
    )
    e.add_argument("--output", help="the file to write (default: RUN_DIR/best.FORMAT-suffix)")
    d = sub.add_parser("draw", help="draw an arch (a run's best, a trial, or --arch) as SVG")
    d.add_argument("run_dir", nargs="?")
    d.add_argument("--trial", type=int, help="a trial of the run (default: the best)")
    d.add_argument("--space", help="with --arch: the space it belongs to")
    _add_space_args(d)
    d.add_argument("--arch", help="arch JSON, or a file holding it")
    d.add_argument("--output", help="the SVG file to write")
    rp = sub.add_parser("report", help="write a run's self-contained HTML report (offline)")
    rp.add_argument("run_dir")
    rp.add_argument("--out", help="the HTML file to write (default: RUN_DIR/report.html)")
    rp.add_argument("--top", type=int, default=10, help="rows of the top-k table (default: 10)")
    a = sub.add_parser("augment", help="augmentation: policy search, RandAugment grid, export")
    asub = a.add_subparsers(dest="augment_command", required=True, parser_class=_Parser)
    for name, text in (
        ("search", "search an AutoAugment policy (space augment-policy, REINFORCE, proxy task)"),
        ("randaugment-grid", "grid-search RandAugment's N and M on the proxy task"),
    ):
        ap = asub.add_parser(name, help=text)
        ap.add_argument("--config", help="a YAML file of settings (flags override it)")
        ap.add_argument("--check", action="store_true", help="validate, load data, and exit")
        _add_run_flags(ap, AUGMENT_DEFAULTS[name])
    ae = asub.add_parser("export", help="write the best policy of an augment run as JSON")
    ae.add_argument("run_dir")
    ae.add_argument("--output", help="default RUN_DIR/policy.json")
    sub.add_parser("list", help="every registered space, strategy, evaluator and dataset")
    lat = sub.add_parser("latency", help="latency tools")
    lsub = lat.add_subparsers(dest="latency_command", required=True, parser_class=_Parser)
    prof = lsub.add_parser("profile", help="build this machine's latency predictor for a space")
    pred = lsub.add_parser("predict", help="predict (and with --measure, measure) one arch")
    for lp in (prof, pred):
        lp.add_argument(
            "--space", default="mnasnet", help="a space, or FILE.py:FUNCTION (default: mnasnet)"
        )
        _add_space_args(lp)
        lp.add_argument(
            "--input-shape", default="3,32,32", help="one input, e.g. C,H,W (default: 3,32,32)"
        )
        lp.add_argument(
            "--vocab-size", type=int, default=0, help="token inputs (transformer): ids 0..N-1"
        )
        lp.add_argument(
            "--backend", default="torch", help="torch (CPU, 1 thread) or cuda (default: torch)"
        )
    prof.add_argument("--archs", type=int, default=60, help="random archs measured end to end")
    prof.add_argument("--runs", type=int, default=30, help="timed runs per arch and per call")
    prof.add_argument(
        "--output", help="default: ~/.cache/nasbeyond/latency/SPACE-HOST-SHAPE[-cuda].json"
    )
    pred.add_argument("--arch", required=True, help="arch JSON, or a file holding it")
    pred.add_argument("--predictor", help="a `latency profile` file (default: profile's default)")
    pred.add_argument("--measure", action="store_true", help="measure it too, for comparison")
    add_tabular_parsers(sub)  # tabular fit | predict | explain, serve
    db = sub.add_parser("dashboard", help="a live page over runs (the dashboard extra)")
    db.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories to show")
    db.add_argument("--port", type=int, default=8050, help="TCP port, 0: any free (default: 8050)")
    db.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    db.add_argument("--check", action="store_true", help="validate the runs and flags, and exit")
    return p


# Defaults of the augmentation commands: the same search, with a policy space and a proxy task.
AUGMENT_DEFAULTS = {
    "search": {"space": "augment-policy", "evaluator": "augment-train", "strategy": "reinforce"},
    "randaugment-grid": {"space": "randaugment", "evaluator": "augment-train", "strategy": "grid"},
}


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    base: dict[str, Any] = dict(AUGMENT_DEFAULTS.get(getattr(args, "augment_command", ""), {}))
    if args.config:
        base.update(RunConfig.from_yaml(args.config).to_dict())
    allowed = {f.name for f in fields(RunConfig)}
    given = {k: v for k, v in vars(args).items() if k in allowed}
    for k, v in given.items():
        base[k] = {**base.get(k, {}), **dict(v)} if k.endswith("_args") else v
    return RunConfig.from_dict(base, source="flags")


def _epochs(n: float) -> str:
    return f"{n:g} epoch" + ("" if n == 1 else "s")


def _search(exp: Any) -> int:
    from nasbeyond.registry import names
    from nasbeyond.run import ProgressBar

    c = exp.config
    exp.check()
    done = exp.store.count_finished()
    # a weight-sharing method trains one supernet, then retrains its one derived arch
    one_shot = c.strategy in names("oneshot") and c.strategy not in names("strategy")
    print(
        "search: "
        + " ".join(
            f"{k}={v}"
            for k, v in (
                ("space", c.space),
                ("strategy", c.strategy),
                ("evaluator", c.evaluator),
                ("dataset", c.dataset),
                ("trials", None if one_shot else c.trials),
                ("budget_seconds", c.budget_seconds),
                ("workers", c.workers),
                ("run_dir", c.run_dir),
            )
            if v is not None
        ),
        file=sys.stderr,
    )
    if not one_shot and c.trials is not None and done >= c.trials:
        print(
            f"nothing left to run: {done} trials finished, trials={c.trials}; "
            f"`nasbeyond resume {c.run_dir} --trials N` with N > {done} searches on",
            file=sys.stderr,
        )
    try:
        label = "best val" if c.reward == "accuracy" else f"best {c.reward} reward"
        best = exp.run(progress=ProgressBar(done, label=label))
    except KeyboardInterrupt:
        print(
            f"\nnasbeyond: interrupted; continue with `nasbeyond resume {c.run_dir}`",
            file=sys.stderr,
        )
        return 130
    if best is None:
        print(
            f"no trial finished successfully; see `nasbeyond show --failed {c.run_dir}`",
            file=sys.stderr,
        )
        return 1
    if "constraint" in best.metrics:
        print(
            f"no trial met the hard constraints (the best, trial {best.id}, broke "
            f"{best.metrics['constraint']}); raise --max-params / --max-macs or search longer",
            file=sys.stderr,
        )
        return 1
    report = exp.final_report(
        on_retrain=lambda trial, epochs: print(
            f"retraining trial {trial} for {_epochs(epochs)} on the whole training split, "
            "then scoring it once on the test split ...",
            file=sys.stderr,
        )
    )
    from nasbeyond.report.curve import search_summary

    summary = search_summary(exp.store.trials())
    if summary:
        print("search:\n" + summary)
    print(f"best trial {best.id}: {exp.space.describe(best.arch)}")
    print(f"  arch: {json.dumps(best.arch, sort_keys=True)}")
    params = best.metrics.get("params")
    score = getattr(exp.evaluator, "score_name", "accuracy")  # detection-train: AP
    val = best.metrics.get("val_acc", best.reward if c.reward == "accuracy" else None)
    shown = [f"parameters: {params:,}"] if params is not None else []
    if c.reward != "accuracy":
        shown.append(f"{c.reward} reward: {best.reward:.4f}")
        if "latency_ms" in best.metrics:
            shown.append(f"latency: {best.metrics['latency_ms']:.3f} ms")
    if val is not None:
        shown.append(f"validation {score}: {val:.4f}")
    print("  " + "  ".join(shown))
    if report and report.test_acc is not None:
        extra = f" (retrained {_epochs(c.final_epochs)})" if c.final_epochs else ""
        print(f"  test {score}{extra}: {report.test_acc:.4f}")
    print(f"  run directory: {c.run_dir}")
    return 0


def _read_arch(text: str) -> dict[str, Any]:
    from pathlib import Path

    source = "arch"
    if not text.lstrip().startswith("{") and is_file(text):
        source, text = f"arch file {text}", Path(text).read_text()
    try:
        arch = json.loads(text)
    except json.JSONDecodeError as e:
        if source == "arch" and text.strip().endswith(".json"):  # meant as a file
            raise ConfigError(
                f"arch: {text.strip()} is neither a file that exists nor JSON text"
            ) from None
        raise ConfigError(
            f"{source}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    if not isinstance(arch, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(arch).__name__}")
    return arch


def _augment_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nasbeyond.run.experiment import RunRecord

    record = RunRecord.open(args.run_dir)
    if record.space.builds != "transform":
        raise ConfigError(f"run_dir: {args.run_dir} is not an augmentation search")
    t = record.trial()
    out = Path(args.output or Path(args.run_dir) / "policy.json")
    meta = {"source": str(args.run_dir), "trial": t.id, "val_acc": t.reward}
    out.write_text(json.dumps({**t.arch, **meta}, indent=1))
    print(out)
    use = (
        f"--augment autoaugment:{out}"
        if "policy" in t.arch
        else f"--augment randaugment:{t.arch['n']},{t.arch['m']}"
    )
    print(f"  {record.space.describe(t.arch)}\n  train with it: {use}", file=sys.stderr)
    return 0


def _draw(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nasbeyond.report.draw import to_svg
    from nasbeyond.run.experiment import RunRecord
    from nasbeyond.space import make_space

    if args.run_dir:
        record = RunRecord.open(args.run_dir)
        trial = record.trial(args.trial)
        space, arch = record.space, trial.arch
        title = f"trial {trial.id} of {args.run_dir}" + (
            f": reward {trial.reward:.4f}" if trial.reward is not None else ""
        )
        out = Path(args.output or Path(args.run_dir) / f"trial-{trial.id}.svg")
    else:
        if not args.space or not args.arch:
            raise ConfigError("draw: give a RUN_DIR, or --space and --arch")
        space = make_space(args.space, dict(args.space_args))
        arch, title = _read_arch(args.arch), args.space
        out = Path(args.output or "arch.svg")
    space.validate(arch)
    out.write_text(to_svg(space.graph(arch), title))
    print(out)
    print(f"  {space.describe(arch)}", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nasbeyond.report.html import write_report

    def tabular_loader(path: Path) -> Any:  # reads model.skops, refusing untrusted types
        from nasbeyond.tabular.export import load_model

        return load_model(path)

    out = write_report(args.run_dir, args.out, top=args.top, tabular_loader=tabular_loader)
    print(out)
    return 0


def _latency_task(args: argparse.Namespace) -> Any:
    from nasbeyond.trial import TaskShape

    try:
        shape = tuple(int(v) for v in args.input_shape.split(","))
    except ValueError:
        raise ConfigError(
            f"input_shape: {args.input_shape!r}; expected C,H,W like 3,32,32 (or a length, "
            "like 64, for token inputs)"
        ) from None
    if args.vocab_size < 0:
        raise ConfigError(f"vocab_size: {args.vocab_size}; allowed: >= 0 (0: not tokens)")
    return TaskShape(shape, 10, args.vocab_size)


def _latency_default_path(args: argparse.Namespace, task: Any) -> Any:
    import platform
    from pathlib import Path

    space = Path(args.space.split(":")[0]).stem if ":" in args.space else args.space
    suffix = "-cuda" if args.backend == "cuda" else ""
    name = f"{space}-{platform.node()}-{'x'.join(map(str, task.input_shape))}{suffix}.json"
    return Path.home() / ".cache" / "nasbeyond" / "latency" / name


def _latency_profile(args: argparse.Namespace) -> int:
    from nasbeyond.evaluate.latency import profile_space
    from nasbeyond.space import make_space

    task = _latency_task(args)
    space = make_space(args.space, dict(args.space_args))
    predictor, within = profile_space(space, task, args.archs, backend=args.backend, runs=args.runs)
    path = predictor.save(args.output or _latency_default_path(args, task))
    print(path)
    print(
        f"  {len(predictor.table)} units and ops profiled, {args.archs} archs measured; "
        f"in-sample within 10%: {within:.2f}",
        file=sys.stderr,
    )
    return 0


def _latency_predict(args: argparse.Namespace) -> int:
    from nasbeyond.evaluate.latency import LatencyPredictor, measure_ms
    from nasbeyond.space import make_space

    task = _latency_task(args)
    space = make_space(args.space, dict(args.space_args))
    model = space.build(space.validate(_read_arch(args.arch)), task)
    path = args.predictor or _latency_default_path(args, task)
    if not is_file(path):
        raise ConfigError(
            f"predictor: {path} is not a file; make one with `nasbeyond latency profile "
            f"--space {args.space} --input-shape {args.input_shape}`"
        )
    predictor = LatencyPredictor.load(path)
    if predictor.backend == "torch":
        import torch

        torch.set_num_threads(1)  # as profiled
    before = len(predictor.table)
    speed, ms = predictor.speed(), predictor.predict(model, task)
    print(f"predicted {ms:.4f} ms ({predictor.backend}, at the profile's reference speed)")
    print(f"  now     {ms * speed:.4f} ms (the calibration probe runs {speed:.2f}x its reference)")
    if len(predictor.table) > before:
        print(f"  {len(predictor.table) - before} new units and ops profiled", file=sys.stderr)
    if args.measure:
        print(f"measured  {measure_ms(model, task, backend=predictor.backend):.4f} ms")
    return 0


def _check(args: argparse.Namespace, arch: dict[str, Any] | None = None) -> int:
    from nasbeyond.run.experiment import components, preflight

    config = _config_from_args(args)
    space, _, evaluator = components(config)
    preflight(space, evaluator, arch)
    data = getattr(evaluator, "data", None)
    if callable(data):  # what the data was understood to be: rows, features, task, classes
        import numpy as np

        from nasbeyond.data import summary
        from nasbeyond.evaluate import count_params

        print(summary(data()))
        one = arch if arch is not None else space.sample(np.random.default_rng(config.seed))
        model = getattr(evaluator, "build_model", space.build)(one, data().task)
        what = "arch" if arch is not None else "a sampled arch"
        print(f"model ({what}): {space.describe(one)}: {count_params(model):,} parameters")
    print("ok: settings, data and space check out")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from nasbeyond.run.executor import evaluate_safely
    from nasbeyond.run.experiment import components
    from nasbeyond.trial import Budget, Context

    arch = _read_arch(args.arch)
    del args.arch
    if args.check:
        return _check(args, arch)
    config = _config_from_args(args)
    space, _, evaluator = components(config)
    space.validate(arch)
    job = (0, arch, Budget(epochs=config.epochs), Context(0, config.seed))
    result = evaluate_safely(evaluator, job)
    print(
        f"{space.describe(arch)}: {result.status}"
        + (f" reward {result.reward:.4f}" if result.reward is not None else "")
    )
    for k, v in result.metrics.items():
        print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
    if result.error:
        print(f"  error: {result.error.splitlines()[0]}")
    return 0 if result.status == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except NasbeyondError as e:
        print(f"nasbeyond: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nnasbeyond: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nasbeyond show RUN | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("tabular", "serve"):
        return tabular_dispatch(args)
    if args.command == "dashboard":
        from nasbeyond.dashboard import serve

        serve(args.run_dirs, host=args.host, port=args.port, check=args.check)
        return 0
    from nasbeyond.run import Experiment

    if args.command == "list":
        from nasbeyond.registry import KINDS, names

        for kind in KINDS:
            plural = {"strategy": "strategies", "oneshot": "one-shot"}.get(kind, kind + "s")
            extra = ", or FILE.py:FUNCTION (user-defined)" if kind == "space" else ""
            print(f"{plural:12s} {', '.join(names(kind))}{extra}")
        return 0
    if args.command == "augment" and args.augment_command == "export":
        return _augment_export(args)
    if args.command in ("search", "augment"):
        if args.check:
            return _check(args)
        config = _config_from_args(args)
        if getattr(args, "augment_command", "") == "randaugment-grid" and "trials" not in vars(
            args
        ):
            from nasbeyond.space import make_space
            from nasbeyond.strategy import GridSearch

            grid = GridSearch(make_space(config.space, config.space_args))
            config = config.replace(trials=grid.size)  # every point once
        return _search(Experiment(config))
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "resume":
        changes = {k: v for k in ("trials", "workers") if (v := getattr(args, k)) is not None}
        return _search(Experiment.resume(args.run_dir, **changes))
    if args.command == "show":
        from nasbeyond.report import pareto_table, trials_table
        from nasbeyond.run.experiment import RunRecord

        if args.top < 1:
            raise ConfigError(f"top: {args.top}; allowed: >= 1")
        record = RunRecord.open(args.run_dir)
        store = record.store
        trials = store.best(args.top)
        if args.failed:
            trials += store.trials("failed")
        running = store.trials("running")
        print(
            f"{store.count_finished()} finished trials "
            f"({len(store.trials('failed'))} failed) in {args.run_dir}"
            + (
                f"; {len(running)} {'was' if len(running) == 1 else 'were'} running when it stopped"
                if running
                else ""
            )
        )
        print(trials_table(trials, record.space.describe))
        if running:  # an interrupted run: these rerun first on `nasbeyond resume`
            print(f"running (rerun first by `nasbeyond resume {args.run_dir}`):")
            print(trials_table(running, record.space.describe))
        if record.config.objectives:
            objectives = record.config.objectives
            print(pareto_table(store.trials("ok"), objectives, record.space.describe))
        if args.failed and not store.trials("failed"):
            print("no failed trials")
        if args.failed:  # the table cuts an error to its first line; here it is whole
            for t in store.trials("failed"):
                print(f"trial {t.id} failed:")
                print("\n".join("    " + line for line in (t.error or "-").splitlines()))
        if store.get("oneshot") is not None:  # a weight-sharing search (DARTS, ENAS, SPOS)
            from nasbeyond.report.oneshot import oneshot_summary

            print(oneshot_summary(store.get("oneshot"), record.space.describe, args.top))
        final = store.get("final")
        if final and final.get("test_acc") is not None:
            from nasbeyond.registry import lookup, names

            name = record.config.evaluator
            evaluator = lookup("evaluator", name) if name in names("evaluator") else None
            score = getattr(evaluator, "score_name", "accuracy")  # detection-train: AP
            print(f"best trial {final['trial_id']}: test {score} {final['test_acc']:.4f}")
        return 0
    if args.command == "latency":
        if args.latency_command == "predict":
            return _latency_predict(args)
        return _latency_profile(args)
    if args.command == "draw":
        return _draw(args)
    if args.command == "report":
        return _report(args)
    if args.command == "export":
        from nasbeyond.export import export_best

        done = export_best(args.run_dir, args.format, args.output)
        print(done.path)
        print(
            f"  matches PyTorch within {done.max_abs_diff:.1e}; CPU latency (batch 1) "
            f"{done.latency_ms:.3f} ms",
            file=sys.stderr,
        )
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
