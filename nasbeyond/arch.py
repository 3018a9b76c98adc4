"""The one architecture format: a JSON-able dict, with a canonical key for deduplication."""

from __future__ import annotations

import hashlib
import json
from typing import Any

Arch = dict[str, Any]


def canonical_json(arch: Arch) -> str:
    """Serialise an arch with sorted keys and no whitespace, so equal archs give equal text."""
    return json.dumps(arch, sort_keys=True, separators=(",", ":"))


def arch_key(arch: Arch) -> str:
    """A short stable identifier of an arch: the hash of its canonical JSON."""
    return hashlib.sha1(canonical_json(arch).encode()).hexdigest()[:16]


def copy_arch(arch: Arch) -> Arch:
    """A deep copy that also proves the arch is JSON-able."""
    out: Arch = json.loads(canonical_json(arch))
    return out
