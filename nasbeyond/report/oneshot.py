"""The weight-sharing part of ``nasbeyond show``: supernet epochs, inherited-weight candidates and
the derived arch, with their costs (the store's ``oneshot`` entry, see ``run.oneshot``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nasbeyond.arch import Arch


def oneshot_summary(record: dict[str, Any], describe: Callable[[Arch], str], top: int = 5) -> str:
    """Lines for a run's ``oneshot`` record: one per supernet epoch (train loss, the relaxed
    supernet's validation accuracy where the method has one, skip/none count, wall seconds,
    the arch derived then), the ``top`` candidates by inherited-weight score, the derived arch."""
    epochs = record.get("epochs", [])
    settings = record.get("settings", {})
    planned = settings.get("epochs", "?")
    detail = ", ".join(f"{k} {settings[k]}" for k in ("guard", "order") if k in settings)
    cost = sum(e.get("cost_s", 0.0) for e in epochs)
    cpu = sum(e.get("cpu_s", 0.0) for e in epochs)
    lines = [
        f"weight sharing: {record.get('method', '?')}"
        + (f" ({detail})" if detail else "")
        + f"; supernet epochs {len(epochs)} of {planned}, {cost:.1f} s ({cpu:.1f} CPU-s)"
    ]
    if epochs:
        rows = [("epoch", "train_loss", "val_acc", "skip/none", "cost_s", "derived")]
        for e in epochs:
            val = e.get("relaxed_val_acc", e.get("val_acc"))
            rows.append(
                (
                    str(e.get("epoch", "?")),
                    f"{e['train_loss']:.4f}" if "train_loss" in e else "-",
                    f"{val:.4f}" if val is not None else "-",
                    str(e.get("skip_or_none", "-")),
                    f"{e.get('cost_s', 0.0):.1f}",
                    describe(e["arch"]) if "arch" in e else "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines += [
            "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
            for r in rows
        ]
    cands = record.get("candidates", [])
    if cands:
        spent = sum(c.get("cost_s", 0.0) for c in cands)
        lines.append(f"candidates scored with inherited weights: {len(cands)} ({spent:.1f} s)")
        for c in sorted(cands, key=lambda c: -float(c.get("score") or 0.0))[:top]:
            lines.append(f"  {c['score']:.4f}  {describe(c['arch'])}")
    if record.get("arch") is not None:
        lines.append(
            f"derived arch ({record.get('search_cost_s', cost):.1f} s, "
            f"{record.get('search_cpu_s', cpu):.1f} CPU-s of search): {describe(record['arch'])}"
            " -> trained standalone as trial 1"
        )
    return "\n".join(lines)
