"""A run's settings: one typed record behind the CLI flags, the YAML file and the API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from nasbeyond._paths import is_file
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import names

EXECUTORS = ("local", "inline", "ray")


@dataclass
class RunConfig:
    """Everything that defines a search. YAML keys and CLI flags carry the same names
    (``trial_timeout`` in YAML is ``--trial-timeout`` on the command line)."""

    space: str = "macro-cnn"
    space_args: dict[str, Any] = field(default_factory=dict)
    strategy: str = "evolution"
    strategy_args: dict[str, Any] = field(default_factory=dict)
    evaluator: str = "train"
    evaluator_args: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None  # None: the evaluator's default (mnist5k for train)
    data_dir: str | None = None
    dataset_args: dict[str, Any] = field(default_factory=dict)
    trials: int | None = None  # default 20, or unlimited when budget_seconds is set
    budget_seconds: float | None = None
    workers: int = 1
    executor: str = "local"  # local processes, inline (in the driver), or ray
    address: str | None = None  # ray: None starts a private instance; "auto" or HOST:PORT
    cpus_per_trial: float = 1.0  # ray
    gpus_per_trial: float = 0.0  # ray
    max_retries: int = 1  # reruns of a trial whose worker process died
    epochs: float | None = None  # per-trial budget; None: the evaluator's default
    steps: int | None = None
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float | None = None
    device: str = "auto"  # train: auto (CUDA when available, else CPU), cpu, cuda, cuda:N
    seed: int = 0
    run_dir: str = "runs/latest"
    trial_timeout: float | None = None
    final_epochs: float = 0.0
    reward: str = "accuracy"  # accuracy, mnasnet (soft) or mnasnet-hard
    target_latency: str | None = None  # the MnasNet target T, e.g. 5ms
    objectives: str | None = None  # multi-objective, e.g. accuracy,latency (nsga2 uses them)
    max_params: float | None = None  # hard constraints: bigger models get reward 0, untrained
    max_macs: float | None = None
    augment: str | None = None  # training augmentation: crop-flip, randaugment:2,9, ... (train)

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
            elif getattr(self, name) not in names(kind):
                raise ConfigError(
                    f"{name}: unknown {kind} {getattr(self, name)!r}; allowed: "
                    f"{', '.join(names(kind))}"
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
        if self.augment is not None:
            from nasbeyond.augment.pipeline import parse_transform

            parse_transform(self.augment)
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor: {self.executor!r}; allowed: {', '.join(EXECUTORS)}")
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
