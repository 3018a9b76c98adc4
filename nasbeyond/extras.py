"""Optional dependencies (Ray, ONNX Runtime, ...) are imported where they are used, through
``require``, so the core imports without them and a missing one names the extra to install."""

from __future__ import annotations

import importlib
from typing import Any

from nasbeyond.exceptions import ConfigError


def require(module: str, extra: str, field: str, what: str) -> Any:
    """Import ``module`` or raise ConfigError: "FIELD: WHAT needs MODULE; pip install ..."."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{field}: {what} needs {module}; install it with `pip install nasbeyond[{extra}]`"
            f" (in a clone: `.venv/bin/python -m pip install -c constraints.txt -e '.[{extra}]'`)"
        ) from None
