"""A run's settings: one typed record behind the CLI flags, the YAML file and the API."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from nasbeyond._paths import is_file
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import lookup, names, parameters, registered_name

EXECUTORS = ("local", "inline", "ray")
DEVICES = "auto, cpu, cuda, cuda:N or mps"


def _f(default: Any, help: str, factory: Any = None) -> Any:
    """A RunConfig field whose ``help`` is both its documentation and its CLI flag's help."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class RunConfig:
    """Everything that defines a search. YAML keys and CLI flags carry the same names
    (``trial_timeout`` in YAML is ``--trial-timeout`` on the command line); each field's meaning,
    unit and allowed values are in ``FIELD_HELP`` (and in ``nasbeyond search --help``)."""

    space: str = _f(
        "macro-cnn", "search space: a registered name (nasbeyond list) or FILE.py:FUNCTION"
    )
    space_args: dict[str, Any] = _f(None, "arguments of the space", dict)
    strategy: str = _f(
        "evolution", "search strategy (controller): a registered name (nasbeyond list)"
    )
    strategy_args: dict[str, Any] = _f(None, "arguments of the strategy", dict)
    evaluator: str = _f(
        "train",
        "evaluator: train (from scratch), augment-train, nb201-table, video-train (nasbeyond list)",
    )
    evaluator_args: dict[str, Any] = _f(None, "arguments of the evaluator", dict)
    dataset: str | None = _f(
        None, "dataset name (nasbeyond list); unset: the evaluator's own (mnist5k for train)"
    )
    data_dir: str | None = _f(
        None,
        "folder (or file, for csv) the dataset is read from; unset: the dataset's own place "
        "(fashion-mnist: /usr/share/datasets/fashion-mnist)",
    )
    dataset_args: dict[str, Any] = _f(None, "arguments of the dataset loader", dict)
    trials: int | None = _f(
        None, "trials to finish (ok or failed), >= 1; unset: 20, or no limit with --budget-seconds"
    )
    budget_seconds: float | None = _f(
        None,
        "stop once the finished trials' summed cost reaches this many seconds (> 0); "
        "unset: no time budget",
    )
    workers: int = _f(1, "trials evaluated at once (worker processes or Ray tasks), >= 1")
    executor: str = _f("local", "local (worker processes), inline (in the driver) or ray")
    address: str | None = _f(
        None, "ray: auto or HOST:PORT of a cluster; unset: a private Ray instance"
    )
    cpus_per_trial: float = _f(1.0, "ray: CPUs reserved per trial (> 0)")
    gpus_per_trial: float = _f(
        0.0, "ray: GPUs reserved per trial (>= 0; 0.5 puts two trials on a GPU)"
    )
    max_retries: int = _f(1, "reruns of a trial whose worker process died (>= 0)")
    epochs: float | None = _f(
        None,
        "training epochs per trial (> 0, fractional allowed); unset: the evaluator's default (2)",
    )
    steps: int | None = _f(
        None, "training steps per trial instead of epochs (>= 1); unset: use epochs"
    )
    batch_size: int = _f(32, "training batch size (>= 1)")
    optimizer: str = _f("sgd", "sgd (Nesterov momentum 0.9) or adam (AdamW); cosine decay to zero")
    lr: float | None = _f(None, "peak learning rate (> 0); unset: 0.05 for sgd, 0.001 for adam")
    device: str = _f(
        "auto", "auto (the first CUDA GPU if torch sees one, else CPU), cpu, cuda, cuda:N or mps"
    )
    seed: int = _f(0, "seed of every random choice of the run (>= 0)")
    run_dir: str | None = _f(
        None, "where the run lives; unset: a fresh runs/SPACE-STRATEGY-YYYYmmdd-HHMMSS"
    )
    trial_timeout: float | None = _f(
        None,
        "seconds before a trial's worker is killed and the trial failed (> 0); unset: no timeout",
    )
    final_epochs: float = _f(
        0.0,
        "retrain the best arch this many epochs on train+validation before the test report (>= 0)",
    )
    reward: str = _f("accuracy", "accuracy, mnasnet (soft latency term) or mnasnet-hard")
    target_latency: str | None = _f(
        None, "the MnasNet target latency T, e.g. 5ms (needed by --reward mnasnet*); unset: none"
    )
    objectives: str | None = _f(
        None,
        "multi-objective search, e.g. accuracy,latency (nsga2 uses them; show lists the front); "
        "unset: one objective, the reward",
    )
    max_params: float | None = _f(
        None,
        "hard constraint: models with more parameters get reward 0, untrained (> 0); unset: none",
    )
    max_macs: float | None = _f(
        None,
        "hard constraint: models with more multiply-accumulates get reward 0, untrained (> 0); "
        "unset: none",
    )
    augment: str | None = _f(
        None,
        "training augmentation: none, crop-flip, autoaugment:POLICY, randaugment:N,M, "
        "trivialaugment; detection-train: detection_v0..detection_v3 or a policy JSON file; "
        "unset: none",
    )
    precision: str = _f(
        "fp32",
        "fp32, or bf16: forward pass and loss under torch.autocast in bfloat16 (CUDA GPUs from "
        "Ampere on, and CPUs; weights stay float32)",
    )
    channels_last: bool = _f(
        False,
        "image models and batches in the channels-last (NHWC) memory format, which the fastest "
        "GPU convolutions use",
    )

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> RunConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a mapping of settings, got {type(d).__name__}")
        allowed = {f.name for f in fields(cls)}
        norm = {str(k).replace("-", "_"): v for k, v in d.items()}
        unknown = sorted(set(norm) - allowed)
        if unknown:
            raise ConfigError(
                f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
            )
        return cls(**norm).validated()

    @classmethod
    def of(cls, space: Any, strategy: Any, evaluator: Any, **settings: Any) -> RunConfig:
        """The settings that name these objects, so a run started from Python with ``run()``
        can be shown, drawn, exported and resumed by the CLI.

        Raises:
            ConfigError: a component is not registered, or holds an argument that is not
                JSON (the message names it).
        """
        from nasbeyond.space.user import FunctionSpace

        if isinstance(space, FunctionSpace):
            space_name, space_args = _reference(space), {"discover": space.discover}
        else:
            space_name, space_args = _registered("space", space)
        strategy_name, strategy_args = _registered("strategy", strategy)  # its seed included
        evaluator_name, evaluator_args = _registered("evaluator", evaluator)
        return cls(
            space=space_name,
            space_args=space_args,
            strategy=strategy_name,
            strategy_args=strategy_args,
            evaluator=evaluator_name,
            evaluator_args=evaluator_args,
            **settings,
        ).validated()

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        p = Path(path)
        if not is_file(p):
            raise ConfigError(f"config: file {path} does not exist")
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            at = f" at line {where.line + 1}" if where is not None else ""
            raise ConfigError(f"config: {path} is not valid YAML{at}") from None
        return cls.from_dict(data or {}, source=f"config {path}")

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes).validated()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validated(self) -> RunConfig:
        """Check types, ranges and registry names; raise ConfigError naming the first bad field."""
        for f in fields(self):
            v = getattr(self, f.name)
            kind = str(f.type)
            if kind.startswith("dict") and not isinstance(v, dict):
                raise ConfigError(f"{f.name}: expected a mapping, got {v!r}")
            if kind == "bool" and not isinstance(v, bool):
                raise ConfigError(f"{f.name}: expected true or false, got {v!r}")
            if kind.startswith("str") and not (
                isinstance(v, str) or (v is None and "None" in kind)
            ):
                raise ConfigError(f"{f.name}: expected text, got {v!r}")
            if (
                kind.startswith(("int", "float"))
                and not (v is None and "None" in kind)
                and (
                    isinstance(v, bool)
                    or not isinstance(v, int | float)
                    or (kind.startswith("int") and not float(v).is_integer())
                )
            ):
                raise ConfigError(f"{f.name}: expected a number, got {v!r}")
        for name, kind in (
            ("space", "space"),
            ("strategy", "strategy"),
            ("evaluator", "evaluator"),
        ):
            if name == "space" and ":" in self.space:
                from nasbeyond.space.user import load_function

                load_function(self.space)  # a user-defined space: FILE.py:FUNCTION
                target, _, fn = self.space.rpartition(":")
                if target.endswith(".py"):  # absolute, so resume works from anywhere
                    self.space = f"{Path(target).resolve()}:{fn}"
            elif getattr(self, name) not in _allowed(kind):
                raise ConfigError(
                    f"{name}: unknown {kind} {getattr(self, name)!r}; allowed: "
                    f"{', '.join(_allowed(kind))}"
                    + (" or FILE.py:FUNCTION (a user-defined space)" if name == "space" else "")
                )
        from nasbeyond.evaluate.pareto import parse_objectives
        from nasbeyond.evaluate.reward import REWARDS, parse_ms

        if self.reward not in REWARDS:
            raise ConfigError(f"reward: {self.reward!r}; allowed: {', '.join(REWARDS)}")
        if self.target_latency is not None:
            parse_ms(self.target_latency)
        elif self.reward != "accuracy":
            raise ConfigError(f"target_latency: reward {self.reward!r} needs a target, e.g. 5ms")
        if self.objectives is not None:
            parse_objectives(self.objectives)
        if self.augment is not None:  # an evaluator may read --augment its own way
            check = getattr(lookup("evaluator", self.evaluator), "check_augment", None)
            if check is None:
                from nasbeyond.augment.pipeline import parse_transform

                check = parse_transform
            check(self.augment)
        _check_device(self.device)
        from nasbeyond.train.trainer import check_precision

        check_precision(self.precision, self.device)
        if self.run_dir is None:
            self.run_dir = fresh_run_dir(self.space, self.strategy)
        if self.epochs is not None and self.steps is not None:
            raise ConfigError("steps: give epochs or steps per trial, not both")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor: {self.executor!r}; allowed: {', '.join(EXECUTORS)}")
        if self.executor == "ray" and importlib.util.find_spec("ray") is None:
            raise ConfigError(
                "executor: 'ray' needs ray; install it with `pip install nasbeyond[ray]`"
            )
        if self.trials is None and self.budget_seconds is None:
            self.trials = 20
        ranges = [
            ("trials", self.trials is None or self.trials >= 1, ">= 1"),
            ("workers", self.workers >= 1, ">= 1"),
            ("epochs", self.epochs is None or self.epochs > 0, "> 0"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("steps", self.steps is None or self.steps >= 1, ">= 1"),
            ("lr", self.lr is None or self.lr > 0, "> 0"),
            ("trial_timeout", self.trial_timeout is None or self.trial_timeout > 0, "> 0"),
            ("final_epochs", self.final_epochs >= 0, ">= 0"),
            ("max_params", self.max_params is None or self.max_params > 0, "> 0"),
            ("max_macs", self.max_macs is None or self.max_macs > 0, "> 0"),
            ("seed", self.seed >= 0, ">= 0"),
            ("cpus_per_trial", self.cpus_per_trial > 0, "> 0"),
            ("gpus_per_trial", self.gpus_per_trial >= 0, ">= 0"),
            ("max_retries", self.max_retries >= 0, ">= 0"),
        ]
        ranges += [
            ("budget_seconds", self.budget_seconds is None or self.budget_seconds > 0, "> 0")
        ]
        for name, ok, allowed in ranges:
            if not ok:
                raise ConfigError(
                    f"{name}: {getattr(self, name)} is out of range; allowed: {allowed}"
                )
        self.workers, self.seed = int(self.workers), int(self.seed)
        self.trials = None if self.trials is None else int(self.trials)
        self.batch_size = int(self.batch_size)
        return self


def _allowed(kind: str) -> list[str]:
    """The names a field of ``kind`` takes: a strategy may also be a weight-sharing method."""
    if kind == "strategy":
        return sorted(set(names("strategy")) | set(names("oneshot")))
    return names(kind)


def fresh_run_dir(space: str, strategy: str, root: str = "runs") -> str:
    """A new directory name for a run: runs/SPACE-STRATEGY-YYYYmmdd-HHMMSS (a user-defined
    space by its function's name), with -2, -3, ... if that exists already."""
    space_part = re.sub(r"[^A-Za-z0-9_.-]+", "_", space.rpartition(":")[2] or space)
    base = Path(root) / f"{space_part}-{strategy}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return str(path)


def _check_device(device: str) -> None:
    """The device's syntax, and that this torch can use it (a CPU build cannot use cuda)."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", str(device)):
        raise ConfigError(f"device: {device!r}; allowed: {DEVICES}")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(
                f"device: {device!r} but this torch ({torch.__version__}, {build}) sees "
                f"{count} CUDA device(s); use --device cpu or auto, or install a CUDA build of "
                "torch (README: GPU)"
            )
    if device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError("device: 'mps' is not available on this machine; use cpu or auto")


FIELD_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(RunConfig)}


def _reference(space: Any) -> str:
    """FILE.py:FUNCTION of a user-defined space (its own reference, or where its function is
    defined at a module's top level)."""
    if space.reference is not None:
        return str(space.reference)
    fn = space.fn
    source = inspect.getsourcefile(fn) if inspect.isfunction(fn) else None
    if source is None or fn.__qualname__ != fn.__name__:
        raise ConfigError(
            f"space: the build function {fn!r} is not defined at a module's top level; "
            "pass FunctionSpace(reference='FILE.py:FUNCTION') to open this run from the CLI"
        )
    return f"{Path(source).resolve()}:{fn.__name__}"


def _registered(kind: str, obj: Any) -> tuple[str, dict[str, Any]]:
    """The registry name of ``obj``'s class and the constructor arguments it holds that differ
    from their defaults (objects store their arguments under the same names)."""
    name = registered_name(kind, type(obj))
    if name is None:
        raise ConfigError(
            f"{kind}: {type(obj).__name__} is not registered; add @register({kind!r}, NAME) "
            "to open this run from the command line"
        )
    args: dict[str, Any] = {}
    for p, default in parameters(kind, name).items():
        if p == "space" or not hasattr(obj, p):
            continue
        value = getattr(obj, p)
        if value == default:
            continue
        try:
            args[p] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            raise ConfigError(
                f"{kind}_args: {name}: {p}={value!r} cannot be saved as JSON"
            ) from None
    return name, args
