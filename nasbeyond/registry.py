"""One registry per kind (space, strategy, dataset, evaluator) shared by the CLI and the API.

@register("strategy", "random")
class RandomSearch(Strategy): ...

create("strategy", "random", space=space, seed=0)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from nasbeyond.exceptions import ConfigError

KINDS = ("space", "strategy", "dataset", "evaluator")
_REGISTRY: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
T = TypeVar("T")


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class or function decorator that makes ``obj`` reachable as ``create(kind, name)``."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown registry kind {kind!r}; kinds: {', '.join(KINDS)}")

    def deco(obj: T) -> T:
        _REGISTRY[kind][name] = obj
        return obj

    return deco


def _load_builtins() -> None:
    # Importing the subpackages runs their @register decorators.
    import nasbeyond.augment.pipeline  # noqa: F401
    import nasbeyond.augment.space  # noqa: F401
    import nasbeyond.data  # noqa: F401
    import nasbeyond.evaluate  # noqa: F401
    import nasbeyond.space  # noqa: F401
    import nasbeyond.strategy  # noqa: F401
    import nasbeyond.train  # noqa: F401


def names(kind: str) -> list[str]:
    """Every registered name of ``kind``, sorted."""
    _load_builtins()
    return sorted(_REGISTRY[kind])


def lookup(kind: str, name: str) -> Any:
    """The registered class or function; ConfigError naming the allowed names otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        allowed = ", ".join(sorted(_REGISTRY[kind]))
        raise ConfigError(f"{kind}: unknown name {name!r}; allowed: {allowed}") from None


def parameters(kind: str, name: str) -> dict[str, Any]:
    """Constructor parameters of a registered entry and their defaults (inspect.Parameter.empty
    when required)."""
    sig = inspect.signature(lookup(kind, name))
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }


def create(kind: str, name: str, **kwargs: Any) -> Any:
    """Instantiate a registered entry; unknown keyword arguments are a ConfigError."""
    obj = lookup(kind, name)
    allowed = parameters(kind, name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{kind} {name!r}: unknown argument {unknown[0]!r}; allowed: {', '.join(allowed)}"
        )
    return obj(**kwargs)
