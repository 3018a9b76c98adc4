"""User-defined spaces in plain PyTorch: a model-building function asks for its choices.

    def build(c, task):
        layers, cin = [], task.input_shape[0]
        for i in range(c.choice("depth", [1, 2, 3])):
            cout = c.choice(f"conv{i}.filters", [16, 32])
            k = c.choice(f"conv{i}.kernel", [3, 5])
            layers += [nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU()]
            if c.choice(f"conv{i}.pool", [False, True]):   # exists only when depth allows it
                layers.append(nn.MaxPool2d(2))
            cin = cout
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(cin, task.num_classes))

    space = FunctionSpace(build)          # or --space path/to/file.py:build on the CLI

An arch is the dict of the choices the function asked for, ``{"depth": 2, "conv0.filters":
16, ...}``: choices that a run of the function did not ask for are not in it. The function
runs on PyTorch's meta device (no memory, no weights) whenever only the choices are needed;
``build`` runs it for real. Choices must not depend on the task (a probe task is used while
sampling).

Decisions for controllers that need a fixed list (REINFORCE, TPE) are discovered by running
the function many times; a choice nobody discovered takes its first option.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nasbeyond._paths import is_file
from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError, SpaceError
from nasbeyond.space._base import Decision, Space, TaskShape, other_choice

BuildFn = Callable[["Choices", TaskShape], nn.Module]
PROBE_TASK = TaskShape((3, 32, 32), 10)


class Choices:
    """What a build function asks through. ``pick(name, options)`` decides; the base class
    records every choice and keeps repeated names consistent."""

    def __init__(self, space_name: str) -> None:
        self.space_name = space_name
        self.asked: dict[str, tuple[Any, ...]] = {}
        self.values: dict[str, Any] = {}

    def choice(self, name: str, options: Sequence[Any]) -> Any:
        """One categorical choice among ``options`` (JSON values: numbers, text, booleans)."""
        opts = tuple(options) if isinstance(options, list | tuple | range) else None
        if not isinstance(name, str) or not name:
            raise SpaceError(f"{self.space_name}: a choice needs a non-empty text name")
        if not opts or any(not isinstance(o, bool | int | float | str | None) for o in opts):
            raise SpaceError(
                f"{self.space_name}: choice {name!r} needs a non-empty list of JSON values "
                "(numbers, text, booleans)"
            )
        if name in self.asked:
            if self.asked[name] != opts:
                raise SpaceError(
                    f"{self.space_name}: choice {name!r} asked twice with other options"
                )
            return self.values[name]
        self.asked[name] = opts
        self.values[name] = self.pick(name, opts)
        return self.values[name]

    def pick(self, name: str, options: tuple[Any, ...]) -> Any:
        raise NotImplementedError


class _Random(Choices):
    def __init__(self, space_name: str, rng: np.random.Generator) -> None:
        super().__init__(space_name)
        self.rng = rng

    def pick(self, name: str, options: tuple[Any, ...]) -> Any:
        return options[int(self.rng.integers(len(options)))]


class _Replay(Choices):
    """Values from an arch; ``fallback`` decides names the arch lacks (None: an error)."""

    def __init__(self, space_name: str, arch: Arch, fallback: Choices | None = None) -> None:
        super().__init__(space_name)
        self.arch = arch
        self.fallback = fallback

    def pick(self, name: str, options: tuple[Any, ...]) -> Any:
        if name in self.arch:
            v = self.arch[name]
            if v in options and type(v) is type(options[options.index(v)]):
                return v
            if self.fallback is None:
                allowed = ", ".join(json.dumps(o) for o in options)
                raise SpaceError(f"{self.space_name}: {name} is {v!r}; allowed: {allowed}")
        if self.fallback is None:
            raise SpaceError(f"{self.space_name}: missing choice {name!r}")
        return self.fallback.pick(name, options)


class _Indexed(Choices):
    def __init__(self, space_name: str, index: dict[str, int]) -> None:
        super().__init__(space_name)
        self.index = index

    def pick(self, name: str, options: tuple[Any, ...]) -> Any:
        return options[min(self.index.get(name, 0), len(options) - 1)]


class _Extreme(Choices):
    def __init__(self, space_name: str, last: bool) -> None:
        super().__init__(space_name)
        self.last = last

    def pick(self, name: str, options: tuple[Any, ...]) -> Any:
        return options[-1 if self.last else 0]


class FunctionSpace(Space):
    """A space defined by a function ``build(c, task) -> nn.Module`` that asks ``c.choice``.

    Args:
        fn: the build function (or ``reference``: ``path/to/file.py:fn`` or ``module:fn``).
        name: shown in messages and reports.
        discover: how many random runs of ``fn`` find the decisions of conditional choices.
    """

    def __init__(
        self,
        fn: BuildFn | None = None,
        name: str = "user",
        discover: int = 64,
        reference: str | None = None,
    ) -> None:
        if fn is None:
            if reference is None:
                raise ConfigError("space: give a build function or a FILE.py:FUNCTION reference")
            fn = load_function(reference)
        if not callable(fn):
            raise ConfigError(f"space: {fn!r} is not a function")
        self.fn = fn
        self.name = name
        self.discover = discover
        self.reference = reference
        self._decisions: list[Decision] | None = None

    # A space made from a reference travels to worker processes as the reference.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.reference is not None:
            state["fn"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.fn is None:
            assert self.reference is not None
            self.fn = load_function(self.reference)

    def _run(self, c: Choices, task: TaskShape | None = None) -> nn.Module:
        try:
            if task is None:
                with torch.device("meta"):
                    model = self.fn(c, PROBE_TASK)
            else:
                model = self.fn(c, task)
        except SpaceError:
            raise
        except Exception as e:  # the user's code: name it, keep the message
            raise SpaceError(
                f"{self.name}: the build function failed: {type(e).__name__}: {e}"
            ) from e
        if not isinstance(model, nn.Module):
            raise SpaceError(
                f"{self.name}: the build function returned {type(model).__name__}, "
                "not a torch.nn.Module"
            )
        return model

    def _arch(self, c: Choices) -> Arch:
        self._run(c)
        return dict(c.values)

    def sample(self, rng: np.random.Generator) -> Arch:
        return self._arch(_Random(self.name, rng))

    def decisions(self) -> list[Decision]:
        if self._decisions is None:
            found: dict[str, tuple[Any, ...]] = {}
            rng = np.random.default_rng(0)
            probes: list[Choices] = [_Extreme(self.name, True), _Extreme(self.name, False)]
            probes += [_Random(self.name, rng) for _ in range(self.discover)]
            for c in probes:
                self._run(c)
                for k, opts in c.asked.items():
                    found.setdefault(k, opts)
            self._decisions = [Decision(k, v) for k, v in found.items() if len(v) > 1]
            if not self._decisions:
                raise SpaceError(
                    f"{self.name}: the build function asks no choice with two or more options"
                )
        return self._decisions

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"{self.name}: expected {len(ds)} choices, got {len(choices)}")
        return self._arch(
            _Indexed(self.name, {d.name: int(i) for d, i in zip(ds, choices, strict=True)})
        )

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one choice to another of its options; choices that appear because of it are
        drawn at random, choices that disappear are dropped."""
        c = _Replay(self.name, self.validate(arch))
        self._run(c)
        names = [k for k, opts in c.asked.items() if len(opts) > 1]
        if not names:
            raise SpaceError(f"{self.name}: nothing to mutate (every choice has one option)")
        name = names[int(rng.integers(len(names)))]
        changed = {**arch, name: other_choice(c.asked[name], arch[name], rng)}
        return self._arch(_Replay(self.name, changed, fallback=_Random(self.name, rng)))

    def validate(self, arch: Arch) -> Arch:
        if not isinstance(arch, dict) or not arch:
            raise SpaceError(f"{self.name}: arch must be a mapping of choice names to values")
        c = _Replay(self.name, arch)
        self._run(c)
        extra = sorted(set(arch) - set(c.asked))
        if extra:
            raise SpaceError(
                f"{self.name}: unknown field {extra[0]!r} (the build function does not ask it "
                f"with these choices); asked: {', '.join(c.asked)}"
            )
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        self.validate(arch)
        return self._run(_Replay(self.name, arch), task)

    def describe(self, arch: Arch) -> str:
        return " ".join(f"{k}={v}" for k, v in arch.items())


def load_function(reference: str) -> BuildFn:
    """``path/to/file.py:fn`` or ``package.module:fn`` -> the function."""
    target, sep, attr = reference.rpartition(":")
    if not sep or not target or not attr.isidentifier():
        raise ConfigError(f"space: {reference!r}; expected FILE.py:FUNCTION or MODULE:FUNCTION")
    try:
        if target.endswith(".py"):
            path = Path(target).resolve()
            if not is_file(path):
                raise ConfigError(f"space: file {target} does not exist")
            mod_name = "nasbeyond_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
            module = sys.modules.get(mod_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(mod_name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"space: cannot load {target}: {type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"space: {target} has no function {attr!r}")
    return fn
