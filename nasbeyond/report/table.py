"""Plain-text tables of trials for ``nasbeyond show``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nasbeyond.arch import Arch
from nasbeyond.trial import Trial


def trials_table(trials: Sequence[Trial], describe: Callable[[Arch], str]) -> str:
    """One row per trial: id, status, reward, parameters, MACs, seconds, arch summary."""
    head = ("id", "status", "reward", "params", "MACs", "cost_s", "arch")
    rows = [head]
    for t in trials:
        m = t.metrics
        rows.append(
            (
                str(t.id),
                t.status,
                f"{t.reward:.4f}" if t.reward is not None else "-",
                f"{m['params']:,}" if "params" in m else "-",
                f"{m['macs'] / 1e6:.1f}M" if "macs" in m else "-",
                f"{t.cost_s:.1f}",
                (describe(t.arch) + (f"  [{m['constraint']}]" if "constraint" in m else ""))
                if t.status in ("ok", "running")
                else (t.error or "-").splitlines()[0][:70],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows
    )


def pareto_table(trials: Sequence[Trial], objectives: str, describe: Callable[[Arch], str]) -> str:
    """The non-dominated trials under ``objectives``, best first objective first, with the
    front's hypervolume (two objectives)."""
    from nasbeyond.evaluate.pareto import front_summary

    summary = front_summary([(t.id, t.metrics) for t in trials], objectives)
    names = [o.split(":")[0] for o in summary["objectives"]]
    hv = summary["hypervolume"]
    lines = [
        f"Pareto front ({len(summary['trials'])} of {summary['scored']} trials): "
        + " vs ".join(names)
        + (
            f"; hypervolume {hv:.4f} (objectives scaled to the range seen)"
            if hv is not None
            else ""
        )
    ]
    by_id = {t.id: t for t in trials}
    for tid in summary["trials"]:
        t = by_id[tid]
        vals = "  ".join(f"{n}={t.metrics[n]:.4g}" for n in names)
        lines.append(f"  trial {t.id}: {vals}  {describe(t.arch)}")
    return "\n".join(lines)
