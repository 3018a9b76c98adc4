// nasbeyond dashboard: one page, three views chosen by the URL's hash
//   #/                      every run: summaries and their best-so-far curves overlaid
//   #/run/N                 one run: curves, reward against cost, importance, parallel
//                           coordinates of the decisions, the trials table
//   #/run/N/trial/T         one trial: arch drawing, metrics, error, log lines
// The page polls the JSON API (a run's `version` changes when a trial starts or finishes) and
// redraws only what changed. Text from the store is set with textContent, never as HTML.
"use strict";

const POLL_MS = Number(document.body.dataset.pollMs) || 2000;
const PAGE = 50;
const PARALLEL_LINES = 2000;  // parallel coordinates: the best this many ok trials by reward
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"];
const state = { route: null, versions: {}, sort: "id", order: "desc", status: "", offset: 0,
                curveX: "trial", scatterX: "cost_s", timer: null };

async function api(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json().catch(() => ({ detail: r.statusText }));
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else if (k === "onclick") e.addEventListener("click", v);
    else if (k === "onchange") e.addEventListener("change", v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const fmt = (v, d = 4) =>
  v === null || v === undefined ? "" : typeof v === "number" ?
    (Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(d)) : String(v);
const secs = (s) => s === null || s === undefined ? "" : s < 120 ? `${s.toFixed(1)} s` :
  s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`;

function stat(label, value, id) {
  return el("div", { class: "stat" }, el("b", { text: value, id }), el("span", { text: label }));
}

function runStats(s, withIds) {
  const id = (k) => (withIds ? k : null);
  return el("div", { class: "stats" },
    stat("trials", fmt(s.trials) + (s.planned ? ` / ${fmt(s.planned)}` : ""), id("trial-count")),
    stat("ok", fmt(s.ok), id("ok-count")),
    stat("failed", fmt(s.failed), id("failed-count")),
    stat("running", fmt(s.running), id("running-count")),
    stat(`best ${s.reward_name || "reward"}`,
         s.best ? `${fmt(s.best.reward)} (#${s.best.id})` : "-", id("best-reward")),
    stat("charged cost", secs(s.total_cost_s)),
    s.final ? stat(`test accuracy (#${s.final.id} retrained)`, fmt(s.final.test_acc), id("final-test")) : null);
}

const LAYOUT = { margin: { l: 60, r: 20, t: 36, b: 48 }, paper_bgcolor: "#fff",
                 plot_bgcolor: "#fff", font: { size: 12 }, legend: { orientation: "h", y: -0.22 } };
const CONFIG = { responsive: true, displaylogo: false };

function plot(node, traces, layout) {
  return Plotly.react(node, traces, { ...LAYOUT, ...layout }, CONFIG);
}

const X_LABEL = { trial: "trial", wall_s: "wall time since the first trial (s)",
                  cost_s: "charged time (s; simulated for benchmark tables)" };
const X_CHOICES = [["trial", "trial"], ["wall_s", "wall time"], ["cost_s", "charged time"]];

function xControl(key, options, redraw) {
  const sel = el("select", { id: `${key}-select`, onchange: (e) => { state[key] = e.target.value; redraw(); } });
  for (const [value, label] of options) {
    sel.append(el("option", { value, text: label, selected: state[key] === value ? "" : null }));
  }
  return sel;
}

// -- overview: every run, curves overlaid ------------------------------------------------
async function overview() {
  const runs = await api("/api/runs");
  const view = el("div", {});
  view.append(el("h1", { text: runs.length > 1 ? `${runs.length} runs` : "run" }));
  const cards = el("div", { class: "cards" });
  for (const s of runs) {
    cards.append(el("div", { class: "card run-card", "data-run": s.id },
      el("a", { class: "title", href: `#/run/${s.id}`, text: s.name }),
      el("div", { class: "muted", text: [s.space, s.strategy, s.evaluator, s.dataset].filter(Boolean).join(" / ") }),
      runStats(s, runs.length === 1)));
  }
  view.append(cards);
  const chart = el("div", { class: "chart", id: "compare-chart" });
  const redraw = () => drawCompare(chart);
  view.append(el("h2", { text: "Best so far" }),
              el("div", { class: "controls" }, el("span", { text: "x axis" }),
                 xControl("curveX", X_CHOICES, redraw)), chart);
  swap(view);
  await drawCompare(chart);
  state.versions = Object.fromEntries(runs.map((s) => [s.id, s.version]));
}

async function drawCompare(node) {
  const curves = await api("/api/compare?points=1000");
  const x = state.curveX;
  const traces = curves.map((c, i) => ({
    x: c[x], y: c.best, name: c.name, mode: "lines+markers", type: "scatter", text: c.trial,
    line: { shape: "hv", color: COLORS[i % COLORS.length] },
    marker: { size: 5, color: COLORS[i % COLORS.length] },
    hovertemplate: "best after trial %{text}: %{y:.4f}<extra>" + c.name + "</extra>",
  }));
  await plot(node, traces, { title: { text: "best reward so far" }, xaxis: { title: { text: X_LABEL[x] } },
                             yaxis: { title: { text: "reward" } } });
}

// -- one run ------------------------------------------------------------------------------
async function runView(run) {
  const s = await api(`/api/runs/${run}`);
  const view = el("div", { id: "run-view", "data-run": run });
  view.append(el("h1", { text: s.name }),
              el("div", { class: "muted", text: [s.space, s.strategy, s.evaluator, s.dataset].filter(Boolean).join(" / ") }),
              el("div", { id: "run-stats" }, runStats(s, true)));
  const curve = el("div", { class: "chart", id: "best-chart" });
  const scatter = el("div", { class: "chart", id: "scatter-chart" });
  view.append(el("div", { class: "controls" },
    el("span", { text: "curve x axis" }), xControl("curveX", X_CHOICES, () => drawCurve(run, curve)),
    el("span", { text: "reward against" }),
    xControl("scatterX", [["cost_s", "cost (s)"], ["params", "parameters"], ["macs", "MACs"],
                          ["latency_ms", "latency (ms)"]], () => drawScatter(run, scatter))));
  const importance = el("div", { class: "chart wide", id: "importance-chart" });
  const parallel = el("div", { class: "chart wide", id: "parallel-chart" });
  view.append(el("div", { class: "charts" }, curve, scatter, importance, parallel),
              el("p", { class: "muted", id: "parallel-note" }));
  view.append(el("h2", { text: "Trials" }), el("div", { id: "table" }));
  swap(view);
  await Promise.all([drawCurve(run, curve), drawScatter(run, scatter), drawTable(run),
                     drawImportance(run, importance)]);
  drawWhenSeen(run, parallel);
  state.versions = { [run]: s.version };
}

async function refreshRun(run, s) {
  document.getElementById("run-stats").replaceChildren(runStats(s, true));
  await Promise.all([drawCurve(run, document.getElementById("best-chart")),
                     drawScatter(run, document.getElementById("scatter-chart")), drawTable(run),
                     drawImportance(run, document.getElementById("importance-chart"))]);
  drawWhenSeen(run, document.getElementById("parallel-chart"));
}

async function drawCurve(run, node) {
  const c = await api(`/api/runs/${run}/curve?points=1000`);
  const x = state.curveX;
  const traces = [{ x: c[x], y: c.best, name: "best so far", mode: "lines", line: { shape: "hv", width: 2 },
                    type: "scatter", text: c.trial, hovertemplate: "best after trial %{text}: %{y:.4f}<extra></extra>" }];
  if (x === "trial") {
    traces.unshift({ x: c.points.trial, y: c.points.reward, name: "trial reward", mode: "markers",
                     type: "scatter", marker: { size: 4, color: "#9aa5b8" },
                     hovertemplate: "trial %{x}: %{y:.4f}<extra></extra>" });
  }
  await plot(node, traces, { title: { text: `best so far (${c.finished.toLocaleString("en-US")} finished)` },
                             xaxis: { title: { text: X_LABEL[x] } }, yaxis: { title: { text: "reward" } } });
}

async function drawScatter(run, node) {
  const x = state.scatterX;
  const d = await api(`/api/runs/${run}/scatter?x=${x}&points=2000`);
  const label = { cost_s: "cost (s)", params: "parameters", macs: "MACs", latency_ms: "latency (ms)" }[x];
  const shown = d.trial.length < d.total ? ` (${d.trial.length.toLocaleString("en-US")} of ${d.total.toLocaleString("en-US")} shown)` : "";
  const traces = [
    { x: d.xs, y: d.reward, text: d.trial, mode: "markers", type: "scatter", name: "ok trials",
      marker: { size: 5, color: "#7b8db0" }, hovertemplate: "trial %{text}<br>%{x}: %{y:.4f}<extra></extra>" },
    { x: d.front.xs, y: d.front.reward, text: d.front.trial, mode: "lines+markers", type: "scatter",
      name: "Pareto front", line: { shape: "hv", color: "#d62728" }, marker: { size: 7, color: "#d62728" },
      hovertemplate: "trial %{text}<br>%{x}: %{y:.4f}<extra></extra>" },
  ];
  const hv = d.hypervolume === null || d.hypervolume === undefined ? "" : `, hypervolume ${d.hypervolume.toFixed(3)}`;
  const layout = { title: { text: `reward against ${label}${shown}${hv}` }, xaxis: { title: { text: label } },
                   yaxis: { title: { text: "reward" } } };
  if (!d.total) layout.annotations = [{ text: `no ok trial has ${label} recorded`, showarrow: false,
                                        xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
  node.onclick = null;
  await plot(node, traces, layout);
  node.on && node.removeAllListeners && node.removeAllListeners("plotly_click");
  node.on && node.on("plotly_click", (e) => { location.hash = `#/run/${run}/trial/${e.points[0].text}`; });
}

async function drawImportance(run, node) {
  const d = await api(`/api/runs/${run}/importance`);
  const n = Math.min(d.names.length, 15);
  const names = d.names.slice(0, n).reverse().map(plotlyText), values = d.values.slice(0, n).reverse();
  const layout = { title: { text: `decision importance for the reward (random forest, ${d.trials.toLocaleString("en-US")} ok trials${d.stale ? ", refreshed every 30 s" : ""})` },
                   margin: { l: 190, r: 20, t: 36, b: 40 }, height: Math.max(260, 60 + 22 * n),
                   xaxis: { title: { text: "mean decrease in impurity (sums to 1)" } } };
  if (!n) layout.annotations = [{ text: "needs 4 ok trials and a decision that varies", showarrow: false,
                                  xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
  await plot(node, [{ type: "bar", orientation: "h", x: values, y: names, marker: { color: "#4c78a8" },
                      hovertemplate: "%{y}: %{x:.3f}<extra></extra>" }], layout);
}

// Plotly reads a few HTML-like tags (<b>, <br>, <a href>) and entities in axis titles; store
// text is escaped so it is shown as typed, never as markup.
const plotlyText = (v) => String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

// The parallel coordinates are WebGL, slow where the browser draws it in software: they are
// drawn (and redrawn after a new trial) only while at least 30% of the chart is on screen.
function drawWhenSeen(run, node) {
  node.pendingRun = run;
  if (!node.observer) {
    node.observer = new IntersectionObserver((entries) => {
      node.seen = entries[entries.length - 1].isIntersecting;
      if (!node.isConnected) node.observer.disconnect();  // the view was left
      flushParallel(node);
    }, { threshold: 0.3 });
    node.observer.observe(node);
  }
  flushParallel(node);
}

function flushParallel(node) {
  if (!node.seen || node.drawing || node.pendingRun === undefined || !node.isConnected) return;
  const run = node.pendingRun;
  node.pendingRun = undefined;
  node.drawing = true;
  drawParallel(run, node)
    .catch((err) => { const note = document.getElementById("parallel-note");
                      if (note) note.textContent = `parallel coordinates: ${err.message || err}`; })
    .finally(() => { node.drawing = false; flushParallel(node); });
}

async function drawParallel(run, node) {
  const d = await api(`/api/runs/${run}/parallel?lines=${PARALLEL_LINES}`);
  const n = (v) => v.toLocaleString("en-US");
  const shown = d.shown < d.total ? `the best ${n(d.shown)} of ${n(d.total)} ok trials by reward`
                                  : `${n(d.shown)} ok trial${d.shown === 1 ? "" : "s"}`;
  node.dataset.lines = d.shown;
  const note = document.getElementById("parallel-note");
  if (note) note.textContent = [`Lines: ${shown}, coloured by reward; drag along an axis to filter, drag a title to reorder.`,
                                ...d.notes.map((s) => `${s}.`)].join(" ");
  const layout = { title: { text: `decisions against reward (${shown})` }, height: 440,
                   margin: { l: 80, r: 130, t: 100, b: 30 } };
  if (!d.dimensions.length) {
    layout.annotations = [{ text: "needs ok trials whose decisions differ", showarrow: false,
                            xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
    layout.xaxis = layout.yaxis = { visible: false };
    await plot(node, [], layout);
    return;
  }
  // keep the user's brushes across a redraw (Plotly writes them into node.data)
  const before = {};
  for (const dim of (node.data && node.data[0] && node.data[0].dimensions) || []) {
    before[dim.label] = { range: dim.constraintrange, ticks: JSON.stringify(dim.ticktext || null) };
  }
  const dimensions = d.dimensions.map((c) => {
    const dim = { label: plotlyText(c.label), values: c.values };
    if (c.labels) {
      dim.tickvals = c.labels.map((_, i) => i);
      dim.ticktext = c.labels;  // tick texts are drawn as plain text (titles are not)
      dim.range = [0, Math.max(c.labels.length - 1, 1)];
    }
    const old = before[dim.label];
    if (old && old.range && old.ticks === JSON.stringify(dim.ticktext || null)) dim.constraintrange = old.range;
    return dim;
  });
  const reward = d.dimensions[d.dimensions.length - 1].values;
  await plot(node, [{ type: "parcoords", dimensions,
    line: { color: reward, colorscale: "Viridis", showscale: true, cmin: Math.min(...reward), cmax: Math.max(...reward),
            colorbar: { title: { text: "reward" }, thickness: 14, x: 1.07 } },
    labelangle: d.dimensions.length > 10 ? -20 : 0, labelside: "top" }], layout);
}

async function drawTable(run) {
  const q = new URLSearchParams({ offset: state.offset, limit: PAGE, sort: state.sort, order: state.order });
  if (state.status) q.set("status", state.status);
  const page = await api(`/api/runs/${run}/trials?${q}`);
  const cols = [["id", "trial"], ["status", "status"], ["reward", "reward"], ["cost_s", "cost (s)"],
                ["params", "params"], ["macs", "MACs"], [null, "arch"]];
  const head = el("tr", {});
  for (const [key, label] of cols) {
    const sorted = key === state.sort;
    head.append(el("th", { text: label, class: sorted ? `sorted ${state.order}` : null, "data-sort": key,
      onclick: key ? () => {
        if (state.sort === key) state.order = state.order === "desc" ? "asc" : "desc";
        else { state.sort = key; state.order = key === "id" || key === "reward" ? "desc" : "asc"; }
        state.offset = 0; drawTable(run);
      } : null }));
  }
  const body = el("tbody", {});
  for (const t of page.rows) {
    body.append(el("tr", { class: "trial-row", "data-id": t.id, onclick: () => { location.hash = `#/run/${run}/trial/${t.id}`; } },
      el("td", {}, el("a", { href: `#/run/${run}/trial/${t.id}`, text: `#${t.id}` })),
      el("td", { class: `status-${t.status}`, text: t.status }),
      el("td", { text: fmt(t.reward) }), el("td", { text: fmt(t.cost_s, 2) }),
      el("td", { text: fmt(t.params) }), el("td", { text: fmt(t.macs) }),
      el("td", { class: "summary", text: t.error ? `${t.summary}  [${t.error}]` : t.summary })));
  }
  const statusSel = el("select", { id: "status-filter", onchange: (e) => { state.status = e.target.value; state.offset = 0; drawTable(run); } });
  for (const v of ["", "ok", "failed", "pruned", "running"]) {
    statusSel.append(el("option", { value: v, text: v || "all", selected: state.status === v ? "" : null }));
  }
  const last = Math.min(page.offset + page.rows.length, page.total);
  const pager = el("div", { class: "pager" }, el("span", { text: "status" }), statusSel,
    el("button", { text: "< prev", id: "prev-page", disabled: page.offset === 0 ? "" : null,
                   onclick: () => { state.offset = Math.max(0, state.offset - PAGE); drawTable(run); } }),
    el("span", { id: "page-info", text: page.total ? `${fmt(page.offset + 1)}-${fmt(last)} of ${fmt(page.total)}` : "no trials yet" }),
    el("button", { text: "next >", id: "next-page", disabled: last >= page.total ? "" : null,
                   onclick: () => { state.offset += PAGE; drawTable(run); } }));
  const node = document.getElementById("table");
  if (node) node.replaceChildren(pager, el("table", { id: "trials-table" }, el("thead", {}, head), body));
}

// -- one trial ----------------------------------------------------------------------------
async function trialView(run, id) {
  const [s, t] = await Promise.all([api(`/api/runs/${run}`), api(`/api/runs/${run}/trials/${id}`)]);
  const view = el("div", { id: "trial-detail", "data-id": t.id, "data-status": t.status });
  view.append(el("div", { class: "muted" }, el("a", { href: `#/run/${run}`, text: `< ${s.name}` })),
              el("h1", { text: `trial ${t.id}: ${t.status}` + (t.reward !== null ? `, reward ${fmt(t.reward)}` : "") }),
              el("div", { class: "muted", id: "trial-summary", text: t.summary }));
  const kv = el("table", { class: "kv", id: "trial-metrics" });
  const rows = [["status", t.status], ["reward", fmt(t.reward)], ["cost (s)", fmt(t.cost_s, 3)],
                ["budget", fmt(t.budget)], ["parent", t.parent === null ? "" : `#${t.parent}`],
                ["started", t.started ? new Date(t.started * 1000).toLocaleString() : ""],
                ["finished", t.finished ? new Date(t.finished * 1000).toLocaleString() : ""]];
  for (const [k, v] of Object.entries(t.metrics)) rows.push([k, typeof v === "object" ? JSON.stringify(v) : fmt(v)]);
  for (const [k, v] of rows) kv.append(el("tr", {}, el("td", { text: k }), el("td", { text: v })));
  const left = el("div", {}, el("h2", { text: "Metrics" }), kv,
                  el("h2", { text: "Arch" }), el("pre", { id: "trial-arch", text: JSON.stringify(t.arch, null, 1) }));
  const right = el("div", {}, el("h2", { text: "Drawing" }));
  right.append(t.undrawable ?
    el("p", { class: "message", id: "arch-undrawable", text: `not drawn: ${t.undrawable}` }) :
    el("div", { class: "drawing" }, el("img", { id: "arch-img", alt: `arch of trial ${t.id}`, src: `/api/runs/${run}/trials/${t.id}/arch.svg` })));
  if (t.error) right.append(el("h2", { text: "Error" }), el("pre", { class: "error", id: "trial-error", text: t.error }));
  right.append(el("h2", { text: "Log" }), t.log.length ?
    el("pre", { id: "trial-log", text: t.log.join("\n") }) :
    el("p", { class: "muted", id: "trial-log", text: "no log lines stored for this trial" }));
  view.append(el("div", { class: "detail" }, left, right));
  swap(view);
  state.versions = { [run]: s.version };
}

// -- routing and polling ------------------------------------------------------------------
function swap(node) { document.getElementById("view").replaceChildren(node); }

function parse(hash) {
  let m = hash.match(/^#\/run\/(\d+)\/trial\/(\d+)$/);
  if (m) return { name: "trial", run: Number(m[1]), id: Number(m[2]) };
  m = hash.match(/^#\/run\/(\d+)$/);
  if (m) return { name: "run", run: Number(m[1]) };
  return { name: "overview" };
}

async function nav() {
  const links = await api("/api/runs").catch(() => []);
  const navNode = document.getElementById("run-nav");
  navNode.replaceChildren(...links.map((s) =>
    el("a", { href: `#/run/${s.id}`, text: s.name, class: state.route && state.route.run === s.id ? "active" : null })));
}

async function show() {
  const route = parse(location.hash);
  if (!state.route || route.run !== state.route.run) { state.offset = 0; state.status = ""; }
  state.route = route;
  try {
    if (route.name === "trial") await trialView(route.run, route.id);
    else if (route.name === "run") await runView(route.run);
    else await overview();
  } catch (err) {
    swap(el("p", { class: "message", id: "error-message", text: String(err.message || err) }));
  }
  nav();
}

async function poll() {
  const live = document.getElementById("live");
  try {
    const r = state.route || { name: "overview" };
    if (r.name === "overview") {
      const runs = await api("/api/runs");
      if (runs.some((s) => state.versions[s.id] !== s.version)) await overview();
    } else {
      const s = await api(`/api/runs/${r.run}`);
      if (state.versions[r.run] !== s.version) {
        state.versions[r.run] = s.version;
        if (r.name === "run") await refreshRun(r.run, s);
        else await trialView(r.run, r.id);
      }
    }
    live.classList.remove("stale"); live.textContent = "live";
  } catch (err) {
    live.classList.add("stale"); live.textContent = "server unreachable";
  }
  state.timer = setTimeout(poll, POLL_MS);
}

window.addEventListener("hashchange", show);
show().then(() => { state.timer = setTimeout(poll, POLL_MS); });
