"""Draw an arch as SVG, with no graphviz: every space gives ``Space.graph(arch)`` (panels of
nodes and labelled edges). A chain (each node reads the one before through an unlabelled edge:
the ops live in the nodes) is a stack down the page, its skips routed in lanes on its right. Any
other graph (a cell: the ops live on the edges) runs left to right in columns by longest path
from the inputs, the output node last; an edge across several columns passes between the nodes
in between. Every edge label sits on the edge's last stretch, in a stack before its node.

Text is measured by an estimate (``text_width``: a character is at most ``EM`` of the font size,
a little more when bold); every label is placed where that estimate cannot meet another, and the
view box is the bounding box of everything drawn, so no text is clipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from nasbeyond.space._base import Panel

FONT, EDGE_FONT, TITLE_FONT = 12.0, 10.0, 14.0  # px: node labels, edge labels, the drawing title
EM, EM_BOLD = 0.62, 0.68  # estimated advance of one character, in font sizes (DejaVu's digits)
ASCENT, DESCENT = 0.85, 0.25  # text's extent above and below its baseline, in font sizes
MARGIN = 16.0  # around the drawing
BOX_H, PAD_X = 26.0, 9.0  # node box height (at least) and its padding left and right of the text
GAP_Y = 24.0  # between the boxes of a stack, and between boxes in one column of a graph
PASS_GAP = 12.0  # between a box and an edge passing through its column, or two passing edges
PORT = 16.0  # vertical spacing of the labelled edges entering one node
CURVE = 48.0  # horizontal room for edges to bend between a column and the next one's labels
ARROW = 9.0  # room for the arrow head between an edge label and its node
LANE_PAD = 12.0  # between skip lanes beside a stack (plus the widest skip label)
PANEL_GAP = 28.0  # between panels
SVG_NS = "http://www.w3.org/2000/svg"


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Estimated width in px of ``text`` at font ``size`` px: ``EM`` (or ``EM_BOLD``) per
    character, wide enough for DejaVu Sans (the usual ``sans-serif``), Helvetica and Arial."""
    return len(text) * size * (EM_BOLD if bold else EM)


@dataclass
class _Sheet:
    """SVG elements and the bounding box (x0, y0, x1, y1) of everything drawn so far."""

    parts: list[str] = field(default_factory=list)
    box: list[float] = field(default_factory=lambda: [1e9, 1e9, -1e9, -1e9])

    def cover(self, x0: float, y0: float, x1: float, y1: float) -> None:
        b = self.box
        b[0], b[1], b[2], b[3] = min(b[0], x0), min(b[1], y0), max(b[2], x1), max(b[3], y1)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        anchor: str = "start",
        bold: bool = False,
        fill: str = "#000",
        backdrop: bool = False,
    ) -> None:
        """``text`` with its baseline at ``y``, anchored at ``x`` (start, middle or end); a
        backdrop hides the lines under it."""
        w = text_width(text, size, bold)
        x0 = x - {"start": 0.0, "middle": w / 2, "end": w}[anchor]
        y0, y1 = y - ASCENT * size, y + DESCENT * size
        if backdrop:
            self.parts.append(
                f'<rect x="{x0 - 2:.1f}" y="{y0:.1f}" width="{w + 4:.1f}" height="{y1 - y0:.1f}" '
                'fill="white" opacity="0.9"/>'
            )
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}"'
            f'{weight} fill="{fill}">{escape(text)}</text>'
        )
        self.cover(x0 - 2, y0, x0 + w + 2, y1)

    def node(self, x: float, y: float, w: float, h: float, label: str, source: bool) -> None:
        fill = "#e8f0fe" if source else "#f5f5f5"
        self.parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="5" '
            f'fill="{fill}" stroke="#333"/>'
        )
        self.cover(x, y, x + w, y + h)
        self.text(x + w / 2, y + h / 2 + 0.35 * FONT, label, FONT, "middle")

    def path(self, d: str, points: list[tuple[float, float]]) -> None:
        """A path ``d`` whose points and control points are ``points`` (for the bounds)."""
        self.parts.append(f'<path d="{d}" fill="none" stroke="#555" marker-end="url(#arrow)"/>')
        for x, y in points:
            self.cover(x, y, x, y)

    def svg(self) -> str:
        x0, y0, x1, y1 = self.box if self.box[0] <= self.box[2] else [0.0, 0.0, 0.0, 0.0]
        x0, y0, w, h = x0 - MARGIN, y0 - MARGIN, x1 - x0 + 2 * MARGIN, y1 - y0 + 2 * MARGIN
        return (
            f'<svg xmlns="{SVG_NS}" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="{x0:.1f} {y0:.1f} {w:.1f} {h:.1f}" font-family="sans-serif" '
            f'font-size="{FONT:g}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
            'refY="5" markerWidth="7" markerHeight="7" orient="auto">'
            '<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
            + "".join(self.parts)
            + "</svg>\n"
        )


Edge = tuple[int, int, str]  # (source node, target node, label)


def _edges(panel: Panel) -> list[Edge]:
    """The panel's edges that point forward (a graph's nodes are in topological order)."""
    return [(s, i, label) for i, (_, es) in enumerate(panel[1]) for s, label in es if 0 <= s < i]


def _is_chain(panel: Panel) -> bool:
    return all((i - 1, "") in edges for i, (_, edges) in enumerate(panel[1]) if i)


def _spread(top: float, h: float, n: int) -> list[float]:
    """``n`` heights spread evenly over a side of height ``h`` from ``top``."""
    return [top + h * (k + 1) / (n + 1) for k in range(n)]


def _stack(sheet: _Sheet, panel: Panel, left: float, top: float) -> float:
    """A chain down the page; skips leave and enter on the right through lanes, one lane per
    set of skips that do not overlap. Returns the bottom of the drawing."""
    nodes = panel[1]
    main = {i: nodes[i][1].index((i - 1, "")) for i in range(1, len(nodes))}
    skips = [
        (s, d, label)
        for d, (_, es) in enumerate(nodes)
        for k, (s, label) in enumerate(es)
        if 0 <= s < d and not (d in main and k == main[d])
    ]
    skips.sort(key=lambda e: (e[1] - e[0], e[0]))
    lanes: list[list[Edge]] = []
    lane_of: dict[int, int] = {}
    for n, (s, d, _) in enumerate(skips):
        free = next(
            (k for k, lane in enumerate(lanes) if all(d < s2 or d2 < s for s2, d2, _ in lane)),
            len(lanes),
        )
        lanes += [[]] if free == len(lanes) else []
        lanes[free].append(skips[n])
        lane_of[n] = free
    # A node's skip ends: upward ones (to sources above) in the top half, outer lanes higher.
    ends: dict[int, list[tuple[float, int, bool]]] = {i: [] for i in range(len(nodes))}
    for n, (s, d, _) in enumerate(skips):
        ends[s].append((1.0, lane_of[n], False))  # leaves s downwards
        ends[d].append((0.0, -lane_of[n], True))  # enters d from above
    width = [text_width(label, FONT) + 2 * PAD_X for label, _ in nodes]
    height = [max(BOX_H, 7.0 * (len(ends[i]) + 1)) for i in range(len(nodes))]
    stack_w = max(width)
    ys = [top]
    for h in height[:-1]:
        ys.append(ys[-1] + h + GAP_Y)
    port: dict[tuple[int, int, bool], float] = {}
    for i, e in ends.items():
        for (_, lane, enters), y in zip(sorted(e), _spread(ys[i], height[i], len(e)), strict=True):
            port[(i, abs(lane), enters)] = y
    lane_w = max([text_width(label, EDGE_FONT) for _, _, label in skips] + [0.0]) + LANE_PAD
    right = left + stack_w
    labels: list[tuple[float, float, str]] = []
    for i in range(1, len(nodes)):  # the next box down
        x = left + stack_w / 2
        sheet.path(f"M{x:.1f},{ys[i - 1] + height[i - 1]:.1f} V{ys[i]:.1f}", [(x, ys[i])])
    for n, (s, d, label) in enumerate(skips):
        lane_x = right + CURVE / 2 + lane_w * (lane_of[n] + 0.5)
        y1, y2 = port[(s, lane_of[n], False)], port[(d, lane_of[n], True)]
        x1, x2 = left + (stack_w + width[s]) / 2, left + (stack_w + width[d]) / 2
        sheet.path(f"M{x1:.1f},{y1:.1f} H{lane_x:.1f} V{y2:.1f} H{x2:.1f}", [(lane_x, y1)])
        if label:  # in the gap between two boxes nearest the middle: no line crosses there
            k = (s + d - 1) // 2
            gap = (ys[k] + height[k] + ys[k + 1]) / 2
            labels.append((lane_x, gap + 0.35 * EDGE_FONT, label))
    for args in labels:  # over the lines
        sheet.text(*args, EDGE_FONT, "middle", fill="#06c", backdrop=True)
    for i, (label, edges) in enumerate(nodes):
        x = left + (stack_w - width[i]) / 2
        sheet.node(x, ys[i], width[i], height[i], label, not edges)
    return ys[-1] + height[-1]


def _route(
    x: float, y: float, moves: list[tuple[str, float, float]]
) -> tuple[str, list[tuple[float, float]]]:
    """Path data from (x, y) through ``moves``: ("bend", x, y) an S-curve leaving and arriving
    level, ("line", x, y) a level line; and its points and control points."""
    d, points = [f"M{x:.1f},{y:.1f}"], [(x, y)]
    for kind, x2, y2 in moves:
        if kind == "bend":
            m = (x + x2) / 2
            d.append(f"C{m:.1f},{y:.1f} {m:.1f},{y2:.1f} {x2:.1f},{y2:.1f}")
            points += [(m, y), (m, y2)]
        else:
            d.append(f"H{x2:.1f}")
        points.append((x2, y2))
        x, y = x2, y2
    return " ".join(d), points


def _columns(panel: Panel, edges: list[Edge]) -> list[int]:
    """Each node's column: its longest path from a node without inputs; the last node (a cell's
    output) alone in the last column, unless the graph is a fan-out from its inputs."""
    depth: list[int] = []
    for i in range(len(panel[1])):
        depth.append(1 + max((depth[s] for s, d, _ in edges if d == i), default=-1))
    deepest = max(depth[:-1], default=0)
    if deepest > depth[-1] or deepest == depth[-1] >= 2:  # not for fan-outs (all at depth 1)
        depth[-1] = deepest + 1
    return depth


def _order(sizes: list[int], links: list[list[tuple[int, int]]]) -> list[list[int]]:
    """An order for the items of each column (a list of their indices): the inputs' column as
    given, the others by the mean rank of their neighbours (the barycenter heuristic: fewer
    crossings), sweeping right, left and right again. ``links[c]`` pairs an item of column c with
    one of column c + 1."""
    rank = [list(range(n)) for n in sizes]  # rank[c][item]: the item's position in column c
    for sweep in (1, -1, 1):
        for c in range(1, len(sizes)) if sweep == 1 else range(len(sizes) - 2, 0, -1):
            nb = c - sweep
            pairs = [(b, a) if sweep == 1 else (a, b) for a, b in links[min(c, nb)]]  # (mine, nb's)
            key = []
            for item in range(sizes[c]):
                near = [rank[nb][t] / sizes[nb] for m, t in pairs if m == item]
                key.append(sum(near) / len(near) if near else rank[c][item] / sizes[c])
            for pos, item in enumerate(sorted(range(sizes[c]), key=key.__getitem__)):
                rank[c][item] = pos
    return [sorted(range(n), key=rank[c].__getitem__) for c, n in enumerate(sizes)]


def _graph(sheet: _Sheet, panel: Panel, left: float, top: float) -> float:
    """A graph left to right (see the module docstring). Returns the bottom of the drawing."""
    nodes = panel[1]
    edges = _edges(panel)
    col_of = _columns(panel, edges)
    ncol = max(col_of) + 1
    # Items of a column: ("node", i) or ("pass", edge index) where a long edge crosses it.
    columns: list[list[tuple[str, int]]] = [[] for _ in range(ncol)]
    for i, c in enumerate(col_of):
        columns[c].append(("node", i))
    hops: list[list[tuple[str, int]]] = []  # per edge: the items it runs through, in order
    for e, (s, d, _) in enumerate(edges):
        hops.append([("node", s)])
        for c in range(col_of[s] + 1, col_of[d]):
            columns[c].append(("pass", e * ncol + c))
            hops[e].append(("pass", e * ncol + c))
        hops[e].append(("node", d))
    where = {item: (c, k) for c, col in enumerate(columns) for k, item in enumerate(col)}
    links: list[list[tuple[int, int]]] = [[] for _ in range(max(ncol - 1, 1))]
    for hop in hops:
        for a, b in zip(hop, hop[1:], strict=False):
            links[where[a][0]].append((where[a][1], where[b][1]))
    orders = _order([len(col) for col in columns], links)
    columns = [[col[k] for k in order] for col, order in zip(columns, orders, strict=True)]

    n_in = [sum(1 for _, d, _ in edges if d == i) for i in range(len(nodes))]
    width = [text_width(label, FONT) + 2 * PAD_X for label, _ in nodes]
    height = [max(BOX_H, PORT * n_in[i] + 8) for i in range(len(nodes))]
    label_w = [text_width(label, EDGE_FONT) for _, _, label in edges]
    col_w = [max([width[i] for kind, i in col if kind == "node"] + [0.0]) for col in columns]
    x_left: list[float] = []
    for c in range(ncol):
        into = [
            label_w[e] + ARROW + 6 for e, (_, d, lb) in enumerate(edges) if col_of[d] == c and lb
        ]
        gap = CURVE + max(into + [0.0]) if c else 0.0
        x_left.append(left if not c else x_left[-1] + col_w[c - 1] + gap)

    def size(item: tuple[str, int]) -> float:
        return height[item[1]] if item[0] == "node" else 0.0

    col_h = []
    for col in columns:
        h = sum(size(it) for it in col)
        gaps = zip(col, col[1:], strict=False)
        h += sum(GAP_Y if a[0] == b[0] == "node" else PASS_GAP for a, b in gaps)
        col_h.append(h)
    y: dict[tuple[str, int], float] = {}  # top of each item
    for col, h in zip(columns, col_h, strict=True):
        at = top + (max(col_h) - h) / 2
        for k, item in enumerate(col):
            if k:
                prev = col[k - 1]
                at += GAP_Y if prev[0] == item[0] == "node" else PASS_GAP
            y[item] = at
            at += size(item)

    def mid(item: tuple[str, int]) -> float:
        return y[item] + size(item) / 2

    # Ports: a node's edges enter on its left in the order of where they come from, and leave
    # on its right in the order of where they go.
    enter: dict[int, float] = {}
    leave: dict[int, float] = {}
    for i in range(len(nodes)):
        ins = sorted((mid(hops[e][-2]), e) for e, (_, d, _) in enumerate(edges) if d == i)
        for k, (_, e) in enumerate(ins):
            enter[e] = y[("node", i)] + height[i] / 2 + (k - (len(ins) - 1) / 2) * PORT
        outs = sorted((mid(hops[e][1]), e) for e, (s, _, _) in enumerate(edges) if s == i)
        for (_, e), py in zip(outs, _spread(y[("node", i)], height[i], len(outs)), strict=True):
            leave[e] = py
    node_x = [x_left[col_of[i]] + (col_w[col_of[i]] - width[i]) / 2 for i in range(len(nodes))]
    labels: list[tuple[float, float, str]] = []
    for e, (s, d, label) in enumerate(edges):
        moves: list[tuple[str, float, float]] = []
        for item in hops[e][1:-1]:  # through a column between two nodes
            c = item[1] % ncol
            moves += [("bend", x_left[c], mid(item)), ("line", x_left[c] + col_w[c], mid(item))]
        end, py = node_x[d], enter[e]
        if label:
            text_right = end - ARROW
            moves += [("bend", text_right - label_w[e] - 6, py), ("line", end, py)]
            labels.append((text_right - label_w[e] / 2, py + 0.35 * EDGE_FONT, label))
        else:
            moves.append(("bend", end, py))
        sheet.path(*_route(node_x[s] + width[s], leave[e], moves))
    for args in labels:  # over the lines
        sheet.text(*args, EDGE_FONT, "middle", fill="#06c", backdrop=True)
    for i, (label, _) in enumerate(nodes):
        sheet.node(node_x[i], y[("node", i)], width[i], height[i], label, n_in[i] == 0)
    return top + max(col_h)


def to_svg(panels: list[Panel], title: str = "") -> str:
    """An SVG document drawing ``panels`` one under the other, under ``title``.

    Args:
        panels: ``Space.graph(arch)``: (panel title, nodes); a node is (label, [(source node
            index, edge label), ...]) and its sources come before it.
        title: a line above the drawing (empty: none).

    Returns:
        The SVG text; its view box holds every element, and no two labels' estimated extents
        (``text_width``, ``ASCENT``, ``DESCENT``) meet.
    """
    sheet = _Sheet()
    top = 0.0
    if title:
        sheet.text(0.0, TITLE_FONT * ASCENT, title, TITLE_FONT)
        top = TITLE_FONT * (ASCENT + DESCENT) + 12
    for panel in panels:
        sheet.text(0.0, top + FONT * ASCENT, panel[0], FONT, bold=True)
        top += FONT * (ASCENT + DESCENT) + 14
        if panel[1]:
            draw = _stack if _is_chain(panel) else _graph
            top = draw(sheet, panel, 0.0, top) + PANEL_GAP
    return sheet.svg()
