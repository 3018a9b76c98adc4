"""One registry per kind (space, strategy, dataset, evaluator, oneshot), for CLI and API.

    @register("strategy", "random")
    class RandomSearch(Strategy): ...

    create("strategy", "random", space=space, seed=0)

The registry is the ground floor: it imports nothing of nasbeyond but its exceptions. Built-in
entries are found through ``BUILTINS`` (kind -> name -> module), so asking for one strategy
imports the strategy package and nothing else; third-party packages add entries through the
``nasbeyond.plugins`` entry-point group (each entry point names a module whose import runs its
``@register`` decorators), as pytest plugins and Optuna integrations do.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from nasbeyond.exceptions import ConfigError

KINDS = ("space", "strategy", "dataset", "evaluator", "oneshot")
PLUGIN_GROUP = "nasbeyond.plugins"

# Where each built-in lives; importing the module runs its @register decorator.
BUILTINS: dict[str, dict[str, str]] = {
    "space": {
        "macro-cnn": "nasbeyond.space.macro_cnn",
        "evolution-cnn": "nasbeyond.space.evolution_cnn",
        "mlp": "nasbeyond.space.mlp",
        "mnasnet": "nasbeyond.space.mnasnet",
        "nb201": "nasbeyond.space.nb201",
        "nasnet": "nasbeyond.space.cells",
        "darts": "nasbeyond.space.cells",
        "transformer": "nasbeyond.space.transformer",
        "nas-fpn": "nasbeyond.space.nas_fpn",
        "augment-policy": "nasbeyond.augment.space",
        "randaugment": "nasbeyond.augment.space",
        "tabular-pipeline": "nasbeyond.tabular.space",
        "assemblenet": "nasbeyond.space.assemblenet",
    },
    "strategy": {
        "random": "nasbeyond.strategy._random",
        "evolution": "nasbeyond.strategy._evolution",
        "large-scale-evolution": "nasbeyond.strategy._large_scale",
        "reinforce": "nasbeyond.strategy._reinforce",
        "tpe": "nasbeyond.strategy._tpe",
        "grid": "nasbeyond.strategy._grid",
        "asha": "nasbeyond.strategy._halving",
        "hyperband": "nasbeyond.strategy._halving",
        "nsga2": "nasbeyond.strategy._nsga2",
        "local-search": "nasbeyond.strategy._local_search",
        "guided-local-search": "nasbeyond.strategy._local_search",
        "bananas": "nasbeyond.strategy._bananas",
    },
    "dataset": {
        "digits": "nasbeyond.data.builtin",
        "mnist5k": "nasbeyond.data.builtin",
        "fashion-mnist": "nasbeyond.data.builtin",
        "cifar10": "nasbeyond.data.builtin",
        "image-folder": "nasbeyond.data.builtin",
        "csv": "nasbeyond.data.builtin",
        "listops": "nasbeyond.data.listops",
        "moving-digits": "nasbeyond.data.video",
        "video-folder": "nasbeyond.data.video",
        "digit-scenes": "nasbeyond.data.detection",
        "coco-folder": "nasbeyond.data.detection",
    },
    "evaluator": {
        "train": "nasbeyond.train.trainer",
        "augment-train": "nasbeyond.train.augment_trainer",
        "nb201-table": "nasbeyond.evaluate.nb201_table",
        "detection-train": "nasbeyond.train.detection_trainer",
        "video-train": "nasbeyond.train.video_trainer",
    },
    # weight-sharing searches (nasbeyond.oneshot): --strategy takes these names too
    "oneshot": {
        "darts": "nasbeyond.oneshot.darts",
        "enas": "nasbeyond.oneshot.enas",
        "spos": "nasbeyond.oneshot.spos",
    },
}

_REGISTRY: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
_plugins_loaded = False
T = TypeVar("T")


def _check_kind(kind: str) -> None:
    if kind not in _REGISTRY:
        raise ConfigError(f"registry kind: {kind!r}; allowed: {', '.join(KINDS)}")


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class or function decorator that makes ``obj`` reachable as ``create(kind, name)``.

    Raises:
        ConfigError: ``kind`` is not one of ``KINDS``, or ``name`` is already taken by another
            object (the message names both). Registering the same object again (a module
            imported twice) is allowed.
    """
    _check_kind(kind)

    def deco(obj: T) -> T:
        old = _REGISTRY[kind].get(name)
        if old is not None and _qualname(old) != _qualname(obj):
            raise ConfigError(
                f"{kind} {name!r}: already registered to {_qualname(old)}; "
                f"cannot register {_qualname(obj)} under the same name"
            )
        _REGISTRY[kind][name] = obj
        return obj

    return deco


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=PLUGIN_GROUP):
        ep.load()


def names(kind: str) -> list[str]:
    """Every registered name of ``kind``, sorted; imports no built-in module."""
    _check_kind(kind)
    _load_plugins()
    return sorted(set(BUILTINS[kind]) | set(_REGISTRY[kind]))


def lookup(kind: str, name: str) -> Any:
    """The registered class or function, importing its built-in module on first use.

    Raises:
        ConfigError: no entry of ``kind`` has that name (the message lists the allowed ones).
    """
    _check_kind(kind)
    if name not in _REGISTRY[kind]:
        if name in BUILTINS[kind]:
            importlib.import_module(BUILTINS[kind][name])
        else:
            _load_plugins()
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        allowed = ", ".join(names(kind))
        raise ConfigError(f"{kind}: unknown name {name!r}; allowed: {allowed}") from None


def registered_name(kind: str, obj: Any) -> str | None:
    """The name under which ``obj`` (a class or function) is registered, if any."""
    _check_kind(kind)
    return next((n for n, o in sorted(_REGISTRY[kind].items()) if o is obj), None)


def parameters(kind: str, name: str) -> dict[str, Any]:
    """Constructor parameters of a registered entry and their defaults (inspect.Parameter.empty
    when required)."""
    sig = inspect.signature(lookup(kind, name))
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }


_TYPE_WORDS = {
    bool: "true/false",
    int: "an integer",
    float: "a number",
    str: "text",
    type(None): "null",
}


def _scalar_types(obj: Any, key: str) -> tuple[type, ...]:
    """The scalar types (bool, int, float, str, None) a constructor argument is annotated with;
    empty when the annotation is anything else or cannot be resolved (no check then)."""
    dataclass = inspect.isclass(obj) and hasattr(obj, "__dataclass_fields__")
    target: Any = obj if dataclass or not inspect.isclass(obj) else obj.__init__
    try:
        hint = typing.get_type_hints(target).get(key)
    except Exception:  # an annotation naming a type the module only imports for checkers
        return ()
    parts = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    if not parts or any(p not in _TYPE_WORDS for p in parts):
        return ()
    return tuple(parts)


def _is_instance(value: Any, wanted: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # bool is an int subclass; only a bool annotation takes it
        return bool in wanted
    if isinstance(value, int) and float in wanted:
        return True
    return isinstance(value, wanted)


def check_arguments(kind: str, name: str, kwargs: dict[str, Any]) -> None:
    """Every keyword is a constructor parameter of the entry, and a scalar one (annotated bool,
    int, float or str, possibly optional) holds a value of that type.

    Raises:
        ConfigError: naming the entry, the argument and what is allowed.
    """
    obj = lookup(kind, name)
    allowed = parameters(kind, name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{kind} {name!r}: unknown argument {unknown[0]!r}; allowed: {', '.join(allowed)}"
        )
    for key, value in kwargs.items():
        wanted = _scalar_types(obj, key)
        if wanted and not _is_instance(value, wanted):
            names_ = " or ".join(_TYPE_WORDS[t] for t in wanted)
            raise ConfigError(f"{kind}_args: {name}: {key}={value!r}; expected {names_}")


def create(kind: str, name: str, **kwargs: Any) -> Any:
    """Instantiate a registered entry.

    Raises:
        ConfigError: an unknown name or keyword argument, or a constructor that rejects its
            arguments (TypeError, ValueError, or a ConfigError that starts with an argument's
            name: re-raised as one line ``KIND_args: NAME: ...`` naming the entry).
    """
    obj = lookup(kind, name)
    check_arguments(kind, name, kwargs)
    try:
        return obj(**kwargs)
    except ConfigError as e:
        # "gamma is 2; allowed: ..." from a constructor names its argument, not where it was
        # set: prefix the entry, as the type checks above do
        msg = str(e)
        if msg.split(" ", 1)[0].rstrip(":(=,") in parameters(kind, name):
            raise ConfigError(f"{kind}_args: {name}: {msg}") from None
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{kind}_args: {name}: {e}") from None
