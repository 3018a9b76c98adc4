"""Paths given as text by users."""

from __future__ import annotations

from pathlib import Path


def is_file(text: str | Path) -> bool:
    """Whether ``text`` names an existing file; False for texts no file system accepts (too
    long, NUL bytes), which are then read as what else they might be (JSON, a name)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False
