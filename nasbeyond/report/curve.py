"""Did the search help? The best-so-far curve and the rewards of early against late trials,
as text, for the end of ``nasbeyond search`` (random sampling shows no late-trial gain; a
controller that learns does)."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from nasbeyond.trial import Trial


def best_so_far(trials: Sequence[Trial]) -> list[tuple[int, float]]:
    """(trial id, reward) each time an ok trial beat every earlier one, in id order."""
    out: list[tuple[int, float]] = []
    for t in sorted(trials, key=lambda t: t.id):
        if t.status == "ok" and t.reward is not None and (not out or t.reward > out[-1][1]):
            out.append((t.id, t.reward))
    return out


def search_summary(trials: Sequence[Trial]) -> str | None:
    """Two lines: the best-so-far steps, and the median reward of the first half of the ok
    trials (in id order) against the second half. None with fewer than 4 ok trials."""
    ok = sorted(
        (t for t in trials if t.status == "ok" and t.reward is not None), key=lambda t: t.id
    )
    if len(ok) < 4:
        return None
    half = len(ok) // 2
    early, late = ok[:half], ok[half:]
    m_early = median(t.reward or 0.0 for t in early)
    m_late = median(t.reward or 0.0 for t in late)
    steps = " -> ".join(f"{r:.4f} (trial {i})" for i, r in best_so_far(ok))
    return (
        f"  best so far: {steps}\n"
        f"  median reward, trials {early[0].id}-{early[-1].id}: {m_early:.4f}; "
        f"trials {late[0].id}-{late[-1].id}: {m_late:.4f} ({m_late - m_early:+.4f})"
    )
