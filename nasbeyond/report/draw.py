"""Draw an arch as SVG, with no graphviz: every space gives ``Space.graph(arch)`` (panels of
nodes and labelled edges); nodes are placed in layers by their longest path from the inputs —
across the page for cells and other DAGs, down the page for chains."""

from __future__ import annotations

from html import escape

from nasbeyond.space._base import Panel

CHAR_W, BOX_H, GAP_X, GAP_Y, MARGIN, TITLE_H = 7.0, 26.0, 150.0, 24.0, 16.0, 28.0
EDGE_LABEL_FONT = 10


def _layers(nodes: list[tuple[str, list[tuple[int, str]]]]) -> list[int]:
    depth: list[int] = []
    for i, (_, edges) in enumerate(nodes):
        srcs = [s for s, _ in edges if 0 <= s < i]
        depth.append(1 + max(depth[s] for s in srcs) if srcs else 0)
    return depth


def _panel(panel: Panel, top: float) -> tuple[list[str], float, float]:
    """SVG elements of one panel, its width and its height."""
    title, nodes = panel
    depth = _layers(nodes)
    width = [len(label) * CHAR_W + 16 for label, _ in nodes]
    chain = all(depth.count(d) == 1 for d in set(depth))
    pos: list[tuple[float, float]] = []
    if chain:  # a stack, top to bottom, centred
        stack_w = max(width)
        for i, d in enumerate(depth):
            pos.append((MARGIN + (stack_w - width[i]) / 2, top + TITLE_H + d * (BOX_H + GAP_Y)))
        panel_w = stack_w + 2 * MARGIN
        panel_h = TITLE_H + (max(depth) + 1) * (BOX_H + GAP_Y)
    else:  # layers left to right
        cols = max(depth) + 1
        col_w = [max(width[i] for i in range(len(nodes)) if depth[i] == c) for c in range(cols)]
        x0 = [MARGIN + sum(col_w[:c]) + c * GAP_X for c in range(cols)]
        rows = [0] * cols
        for i, d in enumerate(depth):
            pos.append(
                (x0[d] + (col_w[d] - width[i]) / 2, top + TITLE_H + rows[d] * (BOX_H + GAP_Y * 2))
            )
            rows[d] += 1
        panel_w = x0[-1] + col_w[-1] + MARGIN
        panel_h = TITLE_H + max(rows) * (BOX_H + GAP_Y * 2)
    out = [f'<text x="{MARGIN}" y="{top + 18}" font-weight="bold">{escape(title)}</text>']
    for i, (_, edges) in enumerate(nodes):
        seen: dict[int, int] = {}
        for src, label in edges:
            if not 0 <= src < len(nodes):
                continue
            k = seen[src] = seen.get(src, -1) + 1  # parallel edges bend apart
            (sx, sy), (dx, dy) = pos[src], pos[i]
            if chain and dy - (sy + BOX_H) <= GAP_Y + 1 and not k:  # the next box down
                x1, y1, x2, y2 = sx + width[src] / 2, sy + BOX_H, dx + width[i] / 2, dy
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            elif chain:  # a skip: out of the right side, around, back in on the right
                x1, y1 = sx + width[src], sy + BOX_H / 2
                x2, y2 = dx + width[i], dy + BOX_H / 2
                cx, cy = max(x1, x2) + 50 + 25 * k, (y1 + y2) / 2
            else:
                x1, y1 = sx + width[src], sy + BOX_H / 2
                x2, y2 = dx, dy + BOX_H / 2
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + k * 44
            out.append(
                f'<path d="M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}" '
                'fill="none" stroke="#555" marker-end="url(#arrow)"/>'
            )
            if label:
                t = 0.5 if chain else 0.72  # near the target: labels of one node stay apart
                lx = (1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t * t * x2
                ly = (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t * t * y2
                w = len(label) * EDGE_LABEL_FONT * 0.6 + 6
                out.append(
                    f'<rect x="{lx - w / 2:.1f}" y="{ly - 7:.1f}" width="{w:.1f}" height="14" '
                    'fill="white" opacity="0.85"/>'
                    f'<text x="{lx:.1f}" y="{ly + 4:.1f}" font-size="{EDGE_LABEL_FONT}" '
                    f'text-anchor="middle" fill="#06c">{escape(label)}</text>'
                )
    for i, (label, edges) in enumerate(nodes):
        x, y = pos[i]
        fill = "#e8f0fe" if not edges else "#f5f5f5"
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width[i]:.1f}" height="{BOX_H}" rx="5" '
            f'fill="{fill}" stroke="#333"/>'
            f'<text x="{x + width[i] / 2:.1f}" y="{y + 17:.1f}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    return out, panel_w + 120, panel_h  # room on the right for skips bending around a stack


def to_svg(panels: list[Panel], title: str = "") -> str:
    """An SVG document drawing ``panels`` one under the other."""
    body: list[str] = []
    top, width = (TITLE_H if title else 0.0), 0.0
    if title:
        body.append(f'<text x="{MARGIN}" y="20" font-size="14">{escape(title)}</text>')
    for p in panels:
        parts, w, h = _panel(p, top)
        body += parts
        top += h + GAP_Y
        width = max(width, w)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{top:.0f}" '
        'font-family="sans-serif" font-size="12">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
        + "".join(body)
        + "</svg>\n"
    )
