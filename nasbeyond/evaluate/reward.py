"""Reward shaping: the MnasNet reward (Tan et al., CVPR 2019) mixes accuracy with latency,
ACC * (LAT / T)^w with w = alpha when LAT <= T and beta otherwise. Soft: alpha = beta = -0.07;
hard: alpha = 0, beta = -1 (no bonus below the target, a steep penalty above it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from nasbeyond.exceptions import ConfigError
from nasbeyond.trial import Result

REWARDS = ("accuracy", "mnasnet", "mnasnet-hard")


def parse_ms(text: str | float) -> float:
    """Milliseconds from ``5``, ``5ms``, ``0.005s`` or ``500us``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(ms|s|us)?\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"target_latency: {text!r} is not a positive duration like 5ms")
    scale = {"s": 1000.0, "us": 0.001}.get(m.group(2) or "ms", 1.0)
    return float(m.group(1)) * scale


def mnasnet_reward(
    acc: float, latency_ms: float, target_ms: float, alpha: float, beta: float
) -> float:
    w = alpha if latency_ms <= target_ms else beta
    return acc * (latency_ms / target_ms) ** w


@dataclass(frozen=True)
class MnasNetReward:
    """Turns a Result's accuracy reward into the MnasNet reward using its ``latency_ms``."""

    target_ms: float
    alpha: float = -0.07
    beta: float = -0.07

    @classmethod
    def named(cls, name: str, target_ms: float) -> MnasNetReward:
        if name == "mnasnet":
            return cls(target_ms)
        if name == "mnasnet-hard":
            return cls(target_ms, 0.0, -1.0)
        raise ConfigError(f"reward: {name!r}; allowed: {', '.join(REWARDS)}")

    def __call__(self, r: Result) -> Result:
        if r.status != "ok" or r.reward is None or "constraint" in r.metrics:
            return r
        lat = r.metrics.get("latency_ms")
        if lat is None:
            return Result.failed(
                "the MnasNet reward needs a latency_ms metric from the evaluator", r.cost_s
            )
        reward = mnasnet_reward(r.reward, float(lat), self.target_ms, self.alpha, self.beta)
        return replace(r, reward=reward, metrics={**r.metrics, "accuracy": r.reward})
