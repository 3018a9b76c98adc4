"""``nasbeyond report RUN_DIR``: one self-contained HTML page of a run, readable offline.

Every chart is a PNG drawn by matplotlib and inlined as base64; arch drawings are ``draw``'s
inline SVG; the only script is a few lines that sort the top-k table. Nothing is fetched: no
CDN, font or image link. Every text that comes from the run (arch values, errors, rules,
column names, settings) is HTML-escaped.

Sections, as the run has them: summary; best-so-far against trial index, wall time and
simulated or summed trial time; reward against each cost metric with the Pareto front and its
hypervolume; a parallel-coordinates view of the decisions and their importance; the top-k
table with drawings; failed trials with their full errors; and per kind of run the
augmentation policy with a grid of augmented samples, the weight-sharing supernet's epochs,
costs and derived arch, or a tabular run's leaderboard, ensemble weights and distilled rules.
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require
from nasbeyond.report.runinfo import (
    Front,
    RunInfo,
    TabularLoader,
    best_so_far_by_finish,
    best_so_far_series,
    decision_table,
    encode_column,
    load_run,
    trial_metrics,
)
from nasbeyond.trial import Trial

REPORT_FILE = "report.html"
MAX_LINES = 1000  # parallel-coordinates lines drawn: the best ones and a seeded sample of the rest
MAX_AXES = 10  # decisions on the parallel-coordinates view (the most important ones)
MAX_FAILED = 500  # failed trials listed with their errors
SAMPLE_IMAGES = 8  # dataset images in the augmentation grid
SAMPLE_DRAWS = 4  # augmented draws of each
_BOX = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 0.5}
LABELS = {
    "reward": "reward",
    "cost_s": "trial cost (s)",
    "params": "parameters",
    "macs": "MACs",
    "latency_ms": "latency (ms)",
    "latency_predicted_ms": "predicted latency (ms)",
}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
nav a{margin-right:12px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}th.sortable{cursor:pointer}th.sortable:after{content:" \\2195";color:#999}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img.chart{max-width:100%;display:block;margin:8px 0}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.note{color:#555;font-style:italic}
.arch{font-family:monospace;font-size:12px;max-width:420px;overflow-wrap:anywhere}
details svg{max-width:100%;height:auto;background:#fff}
"""

# Sorts the table whose header was clicked, by each cell's data-v (a number) or its text.
_JS = """
document.querySelectorAll("table.sortable").forEach(function(t){
  t.querySelectorAll("th.sortable").forEach(function(th,i){th.addEventListener("click",function(){
    var body=t.tBodies[0],rows=Array.from(body.rows),up=th.dataset.dir!=="up";
    th.dataset.dir=up?"up":"down";
    function key(r){var c=r.cells[i],v=c.dataset.v;
      return v!==undefined?parseFloat(v):c.textContent;}
    rows.sort(function(a,b){var x=key(a),y=key(b);if(typeof x==="number"&&isNaN(x))return 1;
      if(typeof y==="number"&&isNaN(y))return -1;return (x<y?-1:x>y?1:0)*(up?1:-1);});
    rows.forEach(function(r){body.appendChild(r);});});});});
"""


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    top: int = 10,
    tabular_loader: TabularLoader | None = None,
    samples: bool = True,
) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default ``RUN_DIR/report.html``).

    Args:
        run_dir: a run directory (see ``nasbeyond.report.runinfo.load_run``).
        out: the HTML file to write.
        top: rows of the top-k table (>= 1).
        tabular_loader: reads a tabular model directory's objects (the CLI passes
            ``nasbeyond.tabular.export.load_model``).
        samples: for augmentation runs, load the run's dataset and draw augmented samples.

    Returns:
        The path written.

    Raises:
        ConfigError: ``run_dir`` is missing or not a run directory, ``top`` < 1, or
            matplotlib is not installed (the ``report`` extra).
    """
    if top < 1:
        raise ConfigError(f"top: {top}; allowed: >= 1")
    require("matplotlib", "report", "report", "drawing the report's charts")
    info = load_run(run_dir, tabular_loader)
    path = Path(out) if out is not None else info.run_dir / REPORT_FILE
    text = render(info, top=top, samples=samples)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise ConfigError(f"out: cannot write {path} ({e.strerror or e})") from None
    return path


def render(info: RunInfo, *, top: int = 10, samples: bool = True) -> str:
    """The report page of ``info`` as HTML text (see the module docstring)."""
    sections: list[tuple[str, str, str]] = [("summary", "Summary", _summary(info))]
    if sum(t.status != "running" for t in info.trials) >= 2:
        sections.append(("progress", "Search progress", _progress(info)))
    if info.fronts:
        sections.append(("fronts", "Reward against cost: Pareto fronts", _fronts(info)))
    if len(info.ok) >= 2:
        sections.append(("decisions", "Decisions and their importance", _decisions(info)))
    if info.ok:
        sections.append(("top", f"Top {min(top, len(info.ok))} trials", _top(info, top)))
    if info.failed or any(t.status == "running" for t in info.trials):
        sections.append(("failed", "Failed and unfinished trials", _failed(info)))
    if info.kind == "augment":
        sections.append(("augment", "Augmentation policy", _augment(info, samples)))
    if info.oneshot is not None:
        sections.append(("oneshot", "Weight sharing: supernet and derived arch", _oneshot(info)))
    if info.tabular is not None:
        sections.append(("tabular", "Tabular AutoML", _tabular(info)))
    nav = " ".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title, _ in sections)
    body = "\n".join(
        f'<section id="{sid}"><h2>{escape(title)}</h2>\n{html}\n</section>'
        for sid, title, html in sections
    )
    title = f"nasbeyond report: {info.run_dir}"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n<nav>{nav}</nav>\n{body}\n"
        f'<p class="note">Written by nasbeyond report at {stamp}. Self-contained: charts are '
        "inline PNGs drawn by matplotlib, drawings inline SVG; nothing is fetched.</p>\n"
        f"<script>{_JS}</script>\n</body></html>\n"
    )


# ----- pieces -----------------------------------------------------------------------------------
def _e(v: Any) -> str:
    return escape(str(v))


def _num(v: Any, fmt: str = ".4f") -> str:
    """A table cell holding a number: sorts by value; '-' when missing."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return '<td class="num" data-v="NaN">-</td>'
    text = f"{v:,}" if isinstance(v, int) and fmt == "," else format(v, fmt)
    return f'<td class="num" data-v="{float(v)!r}">{escape(text)}</td>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], sortable: bool = False) -> str:
    """``rows`` are lists of ready ``<td>`` cells."""
    cls = ' class="sortable"' if sortable else ""
    th = "".join(f"<th{' class=sortable' if sortable else ''}>{escape(h)}</th>" for h in head)
    body = "\n".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table{cls}><thead><tr>{th}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _kv(rows: Sequence[tuple[str, Any]]) -> str:
    """A two-column table of names and values, no header."""
    body = "\n".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table><tbody>\n{body}\n</tbody></table>"


def _td(v: Any, cls: str = "") -> str:
    return f"<td{f' class={cls}' if cls else ''}>{_e(v)}</td>"


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _png(fig: Any, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _label(metric: str) -> str:
    return LABELS.get(metric, metric)


def _summary(info: RunInfo) -> str:
    c = info.config
    rows: list[tuple[str, Any]] = [("run directory", info.run_dir), ("kind", info.kind)]
    for key in ("space", "strategy", "evaluator", "dataset", "objectives", "reward", "seed"):
        if c.get(key) not in (None, "", {}):
            rows.append((key, c[key]))
    for key in ("space_args", "strategy_args", "evaluator_args"):
        if c.get(key):
            rows.append((key, json.dumps(c[key], sort_keys=True)))
    if info.trials:
        counts = {s: sum(t.status == s for t in info.trials) for s in ("ok", "failed", "pruned")}
        running = sum(t.status == "running" for t in info.trials)
        rows.append(
            (
                "trials",
                f"{len(info.trials)}: {counts['ok']} ok, {counts['failed']} failed, "
                f"{counts['pruned']} pruned" + (f", {running} running" if running else ""),
            )
        )
        rows.append(("summed trial cost", f"{sum(t.cost_s for t in info.trials):.1f} s"))
    best = info.best(1)
    if best:
        b = best[0]
        rows.append(("best trial", f"{b.id}: reward {b.reward:.4f}  {info.describe(b.arch)}"))
    if info.final and info.final.get("test_acc") is not None:
        rows.append(
            (
                "final",
                f"trial {info.final.get('trial_id')} retrained: test accuracy "
                f"{info.final['test_acc']:.4f}",
            )
        )
    return _kv(rows)


def _clock_label(info: RunInfo) -> str:
    if info.config.get("evaluator") == "nb201-table":
        return "simulated training time (s): the benchmark's measured cost, charged"
    return "summed trial cost (s; training seconds over all workers)"


def _progress(info: RunInfo) -> str:
    s = best_so_far_series(info.trials, info.times)
    if not s.trial:
        return _note("No trial has finished yet.")
    wall = best_so_far_by_finish(info.trials, info.times)
    have_wall = bool(wall[0])
    Curve = tuple[str, Sequence[float], Sequence[float], Sequence[float]]
    clocks: list[Curve] = [("trial id", [float(i) for i in s.trial], s.best, s.reward)]
    if have_wall:
        clocks.append(("wall time since the first trial started (s)", *wall))
    clocks.append((_clock_label(info), s.cost_s, s.best, s.reward))
    fig, axes = _figure(4.2 * len(clocks), 3.4, len(clocks))
    for ax, (xlabel, xs, best, reward) in zip(axes, clocks, strict=True):
        ax.scatter(xs, reward, s=10, c="#9aa", label="trial reward")
        ax.step(xs, best, where="post", color="#c33", lw=2, label="best so far")
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("reward")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("best-so-far reward", fontsize=10)
    notes = [
        _note(
            "Grey: each trial's reward; red: the best so far. Clocks, left to right: "
            + "; ".join(c[0] for c in clocks)
            + "."
        )
    ]
    if not have_wall:
        notes.append(_note("The store holds no trial times: no wall-time plot."))
    return _png(fig, "best-so-far reward against trials and time") + "".join(notes)


def _fronts(info: RunInfo) -> str:
    pairs = [f for f in info.fronts if len(f.objectives) == 2]
    by_id = {t.id: t for t in info.ok}
    labels = dict(LABELS)
    if info.config.get("evaluator") == "nb201-table":  # charged, not spent
        labels["cost_s"] = "simulated trial cost (s)"
    parts = []
    if pairs:
        ncols = min(3, len(pairs))
        nrows = math.ceil(len(pairs) / ncols)
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4.3 * ncols, 3.6 * nrows), layout="constrained")
        grid = fig.subplots(nrows, ncols, squeeze=False)
        for k, front in enumerate(pairs):
            _front_axes(grid[k // ncols][k % ncols], front, info.ok, by_id, labels)
        for k in range(len(pairs), nrows * ncols):
            grid[k // ncols][k % ncols].set_axis_off()
        parts.append(_png(fig, "reward against cost metrics with Pareto fronts"))
    rows = []
    for f in info.fronts:
        hv = f"{f.hypervolume:.4f}" if f.hypervolume is not None else "- (more than 2)"
        rows.append(
            [
                _td(" vs ".join(f.objectives)),
                _td(f"{len(f.trials)} of {f.scored}"),
                _td(hv),
                _td(", ".join(str(i) for i in f.trials)),
            ]
        )
    parts.append(_table(["objectives", "on the front", "hypervolume", "front's trials"], rows))
    parts.append(
        _note(
            "Fronts and hypervolumes are nasbeyond.evaluate.pareto's: each objective is scaled to "
            "the range the trials span (reference point: the worst value seen), so a "
            "hypervolume of 1.0 would be one trial best at both."
        )
    )
    return "\n".join(parts)


def _front_axes(
    ax: Any, front: Front, ok: list[Trial], by_id: dict[int, Trial], labels: dict[str, str]
) -> None:
    (ym, _), (xm, _) = (o.split(":") for o in front.objectives)
    raw: list[tuple[Any, Any]] = [(trial_metrics(t).get(xm), trial_metrics(t).get(ym)) for t in ok]
    pts = [(float(x), float(y)) for x, y in raw if _finite(x) and _finite(y)]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, c="#9aa", label="trials")
    fx = [float(trial_metrics(by_id[i])[xm] or 0.0) for i in front.trials]
    fy = [float(trial_metrics(by_id[i])[ym] or 0.0) for i in front.trials]
    order = sorted(range(len(fx)), key=lambda i: fx[i])
    ax.step([fx[i] for i in order], [fy[i] for i in order], where="post", color="#c33", lw=1)
    ax.scatter(fx, fy, s=28, c="#c33", label="Pareto front", zorder=3)
    xs = [p[0] for p in pts]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(labels.get(xm, xm))
    ax.set_ylabel(labels.get(ym, ym))
    hv = f"hypervolume {front.hypervolume:.3f}" if front.hypervolume is not None else ""
    ax.set_title(f"{labels.get(ym, ym)} vs {labels.get(xm, xm)}: {hv}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _decisions(info: RunInfo) -> str:
    ok = info.ok
    names, rows = decision_table(ok)
    imp = info.importance
    varying = [j for j in range(len(names)) if len({json.dumps(r[j]) for r in rows}) > 1]
    if imp is not None:
        rank = {n: i for i, n in enumerate(imp.names)}
        varying.sort(key=lambda j: rank.get(names[j], len(rank)))
    shown = varying[:MAX_AXES]
    sampled = f"; drawn: the best {MAX_LINES // 2} and a seeded sample of the rest"
    parts = []
    if shown:
        parts.append(_parallel(ok, names, rows, shown))
        parts.append(
            _note(
                f"One line per ok trial ({len(ok)}"
                + (sampled if len(ok) > MAX_LINES else "")
                + f"), coloured by reward; axes: the {len(shown)} "
                + ("most important " if imp is not None else "")
                + f"of {len(varying)} decisions that vary, then the reward. Decisions are the "
                "arch's JSON paths; text values are spread evenly, numbers to scale."
            )
        )
    else:
        parts.append(_note("No decision varies among the ok trials."))
    if imp is not None:
        k = min(20, len(imp.names))
        fig, (ax,) = _figure(7.0, 0.28 * k + 1.0)
        ax.barh(range(k)[::-1], imp.values[:k], color="#4a7")
        ax.set_yticks(range(k)[::-1], [n[:40] for n in imp.names[:k]], fontsize=8)
        ax.set_xlabel("importance (mean decrease in impurity)")
        ax.grid(alpha=0.3, axis="x")
        parts.append(_png(fig, "per-decision importance"))
        parts.append(_note(f"Importance: {imp.method}."))
    else:
        parts.append(_note("Importance needs at least 4 ok trials with differing rewards."))
    return "\n".join(parts)


def _parallel(ok: list[Trial], names: list[str], rows: list[list[Any]], shown: list[int]) -> str:
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection

    cols: list[tuple[str, list[float], list[str] | None]] = []
    for j in shown:
        values, labels = encode_column([r[j] for r in rows])
        cols.append((names[j], values, labels))
    cols.append(("reward", [float(t.reward or 0.0) for t in ok], None))
    scaled = []
    for _, values, _labels in cols:
        lo, hi = min(values), max(values)
        scaled.append([(v - lo) / (hi - lo) if hi > lo else 0.5 for v in values])
    pts = np.array(scaled).T  # (trials, axes)
    reward = np.array(cols[-1][1])
    idx = np.argsort(-reward, kind="stable")
    if len(idx) > MAX_LINES:
        rng = np.random.default_rng(0)
        rest = rng.choice(idx[MAX_LINES // 2 :], MAX_LINES - MAX_LINES // 2, replace=False)
        idx = np.concatenate([idx[: MAX_LINES // 2], rest])
    idx = idx[np.argsort(reward[idx], kind="stable")]  # best drawn last, on top
    xs = np.arange(len(cols))
    span = float(np.ptp(reward)) or 1.0
    fig, (ax,) = _figure(max(6.0, 1.1 * len(cols)), 4.2)
    cmap = colormaps["viridis"]
    lines = LineCollection(
        [np.column_stack([xs, pts[i]]) for i in idx],
        colors=[cmap((reward[i] - reward.min()) / span) for i in idx],
        linewidths=0.8,
        alpha=0.6,
    )
    ax.add_collection(lines)
    for x, (_name, values, labels) in zip(xs, cols, strict=True):
        ax.axvline(x, color="#444", lw=0.8)
        lo, hi = min(values), max(values)
        if labels is not None:
            for code, text in enumerate(labels):
                y = (code - lo) / (hi - lo) if hi > lo else 0.5
                ax.text(x + 0.03, y, text[:16], fontsize=6, va="center", bbox=_BOX)
        else:
            ax.text(x + 0.03, 0.0, f"{lo:.4g}", fontsize=6, va="center", bbox=_BOX)
            ax.text(x + 0.03, 1.0, f"{hi:.4g}", fontsize=6, va="center", bbox=_BOX)
    ax.set_xlim(-0.2, len(cols) - 0.4)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    ax.set_xticks(xs, [c[0][-22:] for c in cols], rotation=30, ha="right", fontsize=7)
    ax.set_title("parallel coordinates of the decisions", fontsize=10)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    scale = ScalarMappable(Normalize(float(reward.min()), float(reward.min()) + span), cmap)
    fig.colorbar(scale, ax=ax, label="reward", fraction=0.03, pad=0.01)
    return _png(fig, "parallel coordinates of the decisions")


def _drawing(info: RunInfo, arch: Arch, title: str) -> str:
    if info.space is None:
        return ""
    from nasbeyond.report.draw import to_svg

    try:
        svg = to_svg(info.space.graph(arch), title)
    except Exception as e:  # an arch the space cannot draw any more: say so, do not fail
        return f"<span class=note>no drawing ({_e(type(e).__name__)})</span>"
    svg = svg[svg.find("<svg") :] if "<svg" in svg else svg
    return f"<details><summary>drawing</summary>{svg}</details>"


def _top(info: RunInfo, top: int) -> str:
    best = info.best(top)
    metrics = [m for m in ("params", "macs", "latency_ms") if any(m in t.metrics for t in best)]
    head = ["rank", "trial", "reward", *[_label(m) for m in metrics], "cost (s)", "budget"]
    head += ["arch", "drawing"]
    rows = []
    for rank, t in enumerate(best, 1):
        row = [_num(rank, "d"), _num(t.id, "d"), _num(t.reward)]
        row += [_num(t.metrics.get(m), "," if m != "latency_ms" else ".3f") for m in metrics]
        row += [_num(t.cost_s, ".1f"), _num(t.budget, "g")]
        row.append(f'<td class="arch">{_e(info.describe(t.arch))}</td>')
        row.append(f"<td>{_drawing(info, t.arch, f'trial {t.id}: reward {t.reward:.4f}')}</td>")
        rows.append(row)
    return _table(head, rows, sortable=True) + _note("Click a column's header to sort by it.")


def _failed(info: RunInfo) -> str:
    bad = [t for t in info.trials if t.status in ("failed", "running")]
    parts = [
        _note(
            f"{sum(t.status == 'failed' for t in bad)} failed; "
            f"{sum(t.status == 'running' for t in bad)} running: still running if the search "
            "is live, else interrupted (`nasbeyond resume` reruns those first)."
        )
    ]
    if len(bad) > MAX_FAILED:
        parts.append(_note(f"The first {MAX_FAILED} of {len(bad)} are listed."))
    for t in bad[:MAX_FAILED]:
        err = t.error or ("(no error recorded)" if t.status == "failed" else "(running)")
        first = err.strip().splitlines()[0] if err.strip() else err
        parts.append(
            f'<details class="failed"><summary>trial {t.id} ({_e(t.status)}, '
            f"{t.cost_s:.1f} s): {_e(first[:160])}</summary>"
            f'<p class="arch">{_e(info.describe(t.arch))}</p><pre>{_e(err)}</pre></details>'
        )
    return "\n".join(parts)


def _augment(info: RunInfo, samples: bool) -> str:
    best = info.best(1)
    if not best:
        return _note("No augmentation candidate finished ok: no policy to show.")
    t = best[0]
    arch = t.arch
    parts = [f"<p>Best candidate: trial {t.id}, validation accuracy {t.reward:.4f}.</p>"]
    if "policy" in arch:
        rows = []
        for i, sub in enumerate(arch["policy"]):
            for j, (op, p, m) in enumerate(sub):
                rows.append([_td(i if j == 0 else ""), _td(op), _num(p, "g"), _num(m, "d")])
        parts.append(_table(["sub-policy", "operation", "probability", "magnitude bin"], rows))
        parts.append(
            _note(
                "AutoAugment's format: each image gets one sub-policy at random, whose operations "
                "apply in order, each with its probability (magnitude bins 0..9). "
                f"`nasbeyond augment export {info.run_dir}` writes it as JSON."
            )
        )
    else:
        parts.append(
            _table(
                ["N (ops per image)", "M (magnitude, 0..10)"],
                [[_td(arch.get("n")), _td(arch.get("m"))]],
            )
        )
    if not samples:
        parts.append(_note("Augmented samples were not drawn (turned off)."))
    else:
        parts.append(_samples(info, arch))
    return "\n".join(parts)


def _samples(info: RunInfo, arch: Arch) -> str:
    """A grid: row 0 the run's first training images, rows 1.. augmented draws of them."""
    import torch

    from nasbeyond.data import load_dataset
    from nasbeyond.exceptions import NasbeyondError
    from nasbeyond.trial import TaskShape

    c = info.config
    name = c.get("dataset")
    if not name:
        return _note("No augmented samples: the run's settings name no dataset.")
    try:
        data = load_dataset(name, c.get("data_dir"), **(c.get("dataset_args") or {}))
    except (NasbeyondError, OSError) as e:
        return _note(f"No augmented samples: the run's dataset {name!r} did not load here ({e}).")
    if not data.pixel_mean:
        return _note(f"No augmented samples: dataset {name!r} is not images.")
    if not isinstance(data.x_train, torch.Tensor):
        return _note(f"No augmented samples: dataset {name!r} is streamed from disk.")
    x = data.x_train[:SAMPLE_IMAGES].to(torch.float32).cpu()
    mean = torch.tensor(data.pixel_mean).view(1, -1, 1, 1)
    std = torch.tensor(data.pixel_std).view(1, -1, 1, 1)
    x = (x * std + mean).clamp(0, 1)  # the loader standardised them; pixels were in 0..1
    task = TaskShape(tuple(x.shape[1:]), int(data.num_classes))
    transform = info.space.build(arch, task)
    grid = [x]
    with torch.no_grad():
        for draw in range(SAMPLE_DRAWS):
            transform.reseed(draw)
            grid.append(transform(x.clone()).clamp(0, 1))
    n = len(x)
    fig, _ = _figure(1.1 * n, 1.15 * len(grid))
    fig.clear()
    axes = fig.subplots(len(grid), n, squeeze=False)
    for r, batch in enumerate(grid):
        for i in range(n):
            img = batch[i].permute(1, 2, 0).numpy()
            ax = axes[r][i]
            ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel("original" if r == 0 else f"draw {r}", fontsize=7)
    return _png(fig, "augmented samples") + _note(
        f"Top row: the first {n} training images of {name!r}; each row below: the best "
        f"candidate applied once more (seeds 0..{SAMPLE_DRAWS - 1}), as the augment-train "
        "evaluator applies it to batches."
    )


def _oneshot(info: RunInfo) -> str:
    rec = info.oneshot or {}
    epochs = rec.get("epochs", [])
    cands = rec.get("candidates", [])
    settings = rec.get("settings", {})
    cost = rec.get("search_cost_s", sum(e.get("cost_s", 0.0) for e in epochs))
    cpu = rec.get("search_cpu_s", sum(e.get("cpu_s", 0.0) for e in epochs))
    rows = [
        ("method", rec.get("method", "?")),
        ("supernet epochs", f"{len(epochs)} of {settings.get('epochs', '?')}"),
        ("supernet search cost", f"{cost:.1f} s wall, {cpu:.1f} CPU-s"),
        (
            "candidates scored with inherited weights",
            f"{len(cands)} ({sum(c.get('cost_s', 0.0) for c in cands):.1f} s)",
        ),
        ("settings", json.dumps(settings, sort_keys=True)),
    ]
    parts = [_kv(rows)]
    if epochs:
        acc_keys = [k for k in ("relaxed_val_acc", "val_acc", "train_acc", "reward_mean")]
        acc_keys = [k for k in acc_keys if any(k in e for e in epochs)]
        fig, (a1, a2) = _figure(9.0, 3.2, 2)
        ep = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
        if any("train_loss" in e for e in epochs):
            a1.plot(ep, [e.get("train_loss", math.nan) for e in epochs], "o-", label="train loss")
        a1.set_xlabel("supernet epoch")
        a1.xaxis.get_major_locator().set_params(integer=True)
        a1.set_ylabel("train loss")
        if acc_keys:
            tw = a1.twinx()
            for k in acc_keys:
                tw.plot(ep, [e.get(k, math.nan) for e in epochs], "s--", label=k)
            tw.set_ylabel("accuracy / reward")
            tw.legend(fontsize=7, loc="upper right")
        a1.legend(fontsize=7, loc="upper left")
        a2.bar(ep, [e.get("cost_s", 0.0) for e in epochs], color="#47a", label="wall s")
        a2.bar(ep, [e.get("cpu_s", 0.0) for e in epochs], color="#9bd", width=0.4, label="CPU s")
        a2.set_xlabel("supernet epoch")
        a2.xaxis.get_major_locator().set_params(integer=True)
        a2.set_ylabel("seconds")
        a2.legend(fontsize=7)
        a2.set_title("supernet cost per epoch", fontsize=9)
        parts.append(_png(fig, "supernet training and cost per epoch"))
        head = ["epoch", "train loss", *acc_keys, "skip/none", "wall s", "CPU s", "derived"]
        erows = []
        for e in epochs:
            r = [_num(e.get("epoch"), "d"), _num(e.get("train_loss"))]
            r += [_num(e.get(k)) for k in acc_keys]
            r += [_td(e.get("skip_or_none", "-")), _num(e.get("cost_s"), ".2f")]
            r += [_num(e.get("cpu_s"), ".2f")]
            r.append(
                f'<td class="arch">{_e(info.describe(e["arch"])) if "arch" in e else "-"}</td>'
            )
            erows.append(r)
        parts.append(_table(head, erows))
    if cands:
        best = sorted(cands, key=lambda c: -float(c.get("score") or 0.0))[:10]
        crows = [
            [
                _num(c.get("score")),
                _num(c.get("cost_s"), ".3f"),
                f'<td class="arch">{_e(info.describe(c["arch"]))}</td>',
            ]
            for c in best
        ]
        parts.append(f"<p>Best {len(best)} candidates by inherited-weight score:</p>")
        parts.append(_table(["score", "cost (s)", "arch"], crows))
    if rec.get("arch") is not None:
        arch = rec["arch"]
        standalone = next((t for t in info.trials if t.id == 1), None)
        line = f"Derived arch: {info.describe(arch)}"
        if standalone is not None and standalone.reward is not None:
            line += f"; trained standalone as trial 1: reward {standalone.reward:.4f}"
            if "params" in standalone.metrics:
                line += f", {standalone.metrics['params']:,} parameters"
        parts.append(f"<p>{_e(line)}</p>")
        parts.append(_drawing(info, arch, "derived arch"))
    else:
        parts.append(_note("The supernet search has not derived an arch yet."))
    return "\n".join(parts)


def _tabular(info: RunInfo) -> str:
    tab = info.tabular
    if tab is None:
        return ""
    parts = [_note(n) for n in tab.notes]
    meta = tab.meta
    if meta:
        rows = [
            ("target", meta.get("target")),
            ("task", meta.get("task")),
            ("metric", tab.metric),
            ("columns", ", ".join(str(c) for c in meta.get("columns", []))),
            ("rows", json.dumps(meta.get("rows", {}), sort_keys=True)),
        ]
        parts.append(_kv(rows))
    if tab.report:
        rrows = [
            [
                _td(name),
                _num(r.get("score")),
                _num(r.get("fidelity"), ".3f"),
                _num(r.get("latency_ms"), ".3f"),
            ]
            for name, r in tab.report.items()
        ]
        parts.append("<h3>The ensemble and its distilled students (held-out rows)</h3>")
        parts.append(_table(["model", tab.metric, "fidelity to the ensemble", "ms per row"], rrows))
    if tab.leaderboard:
        lrows = []
        for r in tab.leaderboard:
            lrows.append(
                [
                    _td("" if r.get("trial") is None else r["trial"]),
                    _td(r.get("model", "")),
                    f'<td class="arch">{_e(r.get("pipeline", ""))}</td>',
                    _num(r.get("score")),
                    _num(r.get("fidelity"), ".3f"),
                    _num(r.get("time_s"), ".2f"),
                    _td(r.get("status", "")),
                    _num(r.get("weight"), ".3f"),
                    _td(r.get("error", "")),
                ]
            )
        head = ["trial", "model", "pipeline", tab.metric, "fidelity", "time (s)", "status"]
        parts.append("<h3>Leaderboard</h3>")
        parts.append(_table([*head, "ensemble weight", "error"], lrows, sortable=True))
    if tab.ensemble:
        labels = {r.get("trial"): r.get("model", "") for r in tab.leaderboard}
        fig, (ax,) = _figure(6.0, 0.35 * len(tab.ensemble) + 1.0)
        names = [f"trial {i} {labels.get(i, '')}" for i, _ in tab.ensemble]
        ax.barh(range(len(names))[::-1], [w for _, w in tab.ensemble], color="#a74")
        ax.set_yticks(range(len(names))[::-1], names, fontsize=8)
        ax.set_xlabel("ensemble weight")
        parts.append("<h3>Ensemble weights</h3>" + _png(fig, "ensemble weights"))
    if tab.importances:
        top = list(tab.importances.items())[:20]
        fig, (ax,) = _figure(6.0, 0.28 * len(top) + 1.0)
        ax.barh(range(len(top))[::-1], [v for _, v in top], color="#4a7")
        ax.set_yticks(range(len(top))[::-1], [k[:40] for k, _ in top], fontsize=8)
        ax.set_xlabel("feature importance (the ensemble's)")
        parts.append("<h3>Feature importances</h3>" + _png(fig, "feature importances"))
    if tab.rules:
        depth = meta.get("max_depth")
        parts.append(
            f"<h3>The distilled tree's rules{f' (depth <= {_e(depth)})' if depth else ''}</h3>"
            f"<pre>{_e(tab.rules)}</pre>"
        )
    return "\n".join(parts) or _note("The tabular run holds nothing to show yet.")
