// A run's tasks drawn: a timeline (each task's wait and run on a shared time axis, its attempts
// and duration), and for workflows whose tasks name dependencies, the graph in layers.

import { badge, duration, h, svg } from "./dom.js";

export function timeline(workflow) {
  const origin = new Date(workflow.started_at || workflow.created_at).getTime();
  const end = workflow.finished_at ? new Date(workflow.finished_at).getTime() : Date.now();
  const span = Math.max(end - origin, 1);
  const at = (iso) => (iso ? new Date(iso).getTime() : null);
  const percent = (ms) => `${Math.min(100, Math.max(0, ((ms - origin) / span) * 100))}%`;

  const rows = workflow.tasks.map((task) => {
    const track = h("div", { class: "track" });
    const started = at(task.started_at);
    const finished = at(task.finished_at) ?? (task.status === "running" ? end : null);
    const waiting = at(task.waiting_since) ?? (task.status === "queued" ? at(task.available_at) : null);
    if (waiting && !finished) track.append(bar("wait", waiting, end));
    if (started) track.append(bar(task.status, started, finished ?? started));
    const attempts = task.attempt > 1 ? `, attempt ${task.attempt} of ${task.retry.max_attempts}` : "";
    return h("div", { class: "timeline-row", "data-task": task.key || task.id },
      h("span", { class: "label" }, label(task)),
      track,
      h("span", { class: "meta" }, badge(task.status), ` ${task.started_at ? duration(task.started_at, task.finished_at) : ""}${attempts}`));
  });

  function bar(kind, from, to) {
    const el = h("span", { class: `bar ${kind}`, title: `${kind}: ${duration(new Date(from), new Date(to))}` });
    el.style.left = percent(from);
    el.style.width = `max(3px, calc(${percent(to)} - ${percent(from)}))`;
    return el;
  }

  return h("div", { class: "timeline", id: "timeline" }, rows);
}

export function label(task) {
  const element = task.element_index === null || task.element_index === undefined ? "" : ` [${task.element_index}]`;
  return `${task.key || task.title || task.type}${element}`;
}

const NODE_W = 150;
const NODE_H = 34;
const GAP_X = 60;
const GAP_Y = 16;

/** The graph of the workflow's own tasks in layers (a task one layer right of its last
 * dependency), or null when its tasks run one after another. */
export function graph(workflow) {
  const tasks = workflow.tasks.filter((t) => !t.parent_task_id);
  if (!tasks.some((t) => Array.isArray(t.depends_on))) return null;
  const byKey = new Map(tasks.filter((t) => t.key).map((t) => [t.key, t]));
  const needs = (t) => (t.depends_on || []).map((k) => byKey.get(k)).filter(Boolean);
  const layers = new Map();
  const layerOf = (t, path = new Set()) => {
    if (layers.has(t.id)) return layers.get(t.id);
    if (path.has(t.id)) return 0;
    path.add(t.id);
    const layer = Math.max(-1, ...needs(t).map((d) => layerOf(d, path))) + 1;
    layers.set(t.id, layer);
    return layer;
  };
  const columns = [];
  for (const t of tasks) (columns[layerOf(t)] ??= []).push(t);
  const place = new Map();
  columns.forEach((column, x) => column.forEach((t, y) => place.set(t.id, { x: x * (NODE_W + GAP_X), y: y * (NODE_H + GAP_Y) })));
  const width = columns.length * (NODE_W + GAP_X) - GAP_X;
  const height = Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y;

  const edges = tasks.flatMap((t) => needs(t).map((d) => {
    const from = place.get(d.id);
    const to = place.get(t.id);
    const x1 = from.x + NODE_W;
    const y1 = from.y + NODE_H / 2;
    const x2 = to.x;
    const y2 = to.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    return svg("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` });
  }));
  const nodes = tasks.map((t) => {
    const { x, y } = place.get(t.id);
    return svg("g", { class: `node ${t.status}`, transform: `translate(${x},${y})` },
      svg("title", {}, `${label(t)}: ${t.status}`),
      svg("rect", { width: NODE_W, height: NODE_H, rx: 6 }),
      svg("text", { x: 10, y: NODE_H / 2 + 4 }, `${label(t).slice(0, 16)} · ${t.status}`));
  });
  return h("div", { class: "graph" },
    svg("svg", { id: "graph", width: width + 2, height: height + 2, viewBox: `-1 -1 ${width + 2} ${height + 2}` }, edges, nodes));
}
