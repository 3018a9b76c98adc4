"""The package's exceptions: user errors carry one sentence naming the field and what is allowed."""

from __future__ import annotations


class NasbeyondError(Exception):
    """Base class of every error nasbeyond raises on purpose."""


class ConfigError(NasbeyondError):
    """A run setting (flag, YAML key, constructor argument) is missing or out of range."""


class SpaceError(NasbeyondError):
    """An architecture is not a member of its search space."""


class DataError(NasbeyondError):
    """A dataset cannot be found or read."""


class StoreError(NasbeyondError):
    """A run directory or its database is missing or unreadable."""


class TrialError(NasbeyondError):
    """A trial failed in a way the evaluator detected (a NaN loss, for example)."""
