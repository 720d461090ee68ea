// A run's page: its state, actions (start, cancel, retry, resume, with the API's answer), its tasks as a
// timeline and a graph, each task's resolved input, output, error and streamed text, its signals
// and documents, and its live events. The event stream drives the refreshes.

import { call, events, get } from "./api.js";
import { answer, badge, duration, fill, h, json, time } from "./dom.js";
import { EVENT_TYPES, TERMINAL, eventLog } from "./events.js";
import { graph, label, timeline } from "./timeline.js";

export function runPage(main, id) {
  const base = `/api/workflows/${encodeURIComponent(id)}`;
  let workflow = null;
  let source = null;
  let lastEventId = 0;
  let stopped = false;
  let refreshing = null;
  // The text streamed by each task's latest attempt: {attempt, text}.
  const streamed = new Map();
  const opened = new Set();

  const head = h("section", { id: "run-head" });
  const io = h("section", { class: "pair", id: "run-io" });
  const result = h("div", { id: "action-answer" });
  const tasksView = h("section", { id: "tasks" });
  const signalsView = h("section", { id: "signals" });
  const documentsView = h("section", { id: "documents" });
  const log = eventLog();
  const connection = h("span", { class: "muted", id: "stream-state" });

  const act = (action) => h("button", {
    id: action,
    type: "button",
    onclick: async () => {
      const answered = await call("POST", `${base}/${action}`);
      fill(result, answer(answered));
      if (answered.status < 400) {
        if (!source) follow();
        refresh();
      }
    },
  }, action[0].toUpperCase() + action.slice(1));

  fill(main,
    h("p", {}, h("a", { href: "#/" }, "← Runs")),
    head,
    h("div", { class: "actions" }, act("start"), act("cancel"), act("retry"), act("resume"), result),
    io, tasksView, signalsView, documentsView,
    h("section", {}, h("h2", {}, "Events ", connection), log.el));

  /** Reads the run (and its signals and documents) and shows it; false when it cannot. */
  async function load() {
    try {
      workflow = await get(base);
    } catch (error) {
      fill(head, h("h1", {}, "Run"), h("p", { class: "answer error" }, error.message));
      return false;
    }
    const [signals, documents] = await Promise.all([
      get(`${base}/signals`).catch(() => ({ data: [] })),
      get(`/api/documents?limit=100&workflow_id=${encodeURIComponent(id)}`).catch(() => ({ data: [] })),
    ]);
    if (stopped) return false;
    render(signals.data, documents.data.filter((d) => d.workflow_id === id));
    return true;
  }

  /** One refresh at a time; events arriving meanwhile ask for one more. */
  function refresh() {
    if (refreshing) {
      refreshing.again = true;
      return;
    }
    refreshing = { again: false };
    load().finally(() => {
      const again = refreshing.again;
      refreshing = null;
      if (again && !stopped) refresh();
    });
  }

  function render(signals, documents) {
    const w = workflow;
    fill(head,
      h("h1", {}, w.name, " ", badge(w.status)),
      h("p", { class: "muted" }, `${w.id} · created ${time(w.created_at)} · started ${time(w.started_at)} · `
        + `finished ${time(w.finished_at)} · ${w.started_at ? duration(w.started_at, w.finished_at) : "not started"}`));
    fill(io,
      h("div", {}, h("h3", {}, "Input"), json(w.input)),
      w.output !== null ? h("div", {}, h("h3", {}, "Output"), json(w.output)) : null,
      w.error !== null ? h("div", {}, h("h3", {}, "Error"), json(w.error)) : null);
    fill(tasksView, h("h2", {}, "Tasks"), graph(w), timeline(w), w.tasks.map(taskCard));
    fill(signalsView, signals.length || w.tasks.some((t) => t.type === "wait") ? [
      h("h2", {}, "Signals"),
      signals.length ? h("ul", {}, signals.map((s) => h("li", {},
        h("strong", {}, s.name), ` ${time(s.created_at)} `,
        s.consumed_at ? `consumed ${time(s.consumed_at)}` : "waiting for a wait", json(s.payload)))) : null,
      signalForm(),
    ] : []);
    fill(documentsView, documents.length ? [
      h("h2", {}, "Documents"),
      documents.map((d) => h("div", { class: "document" }, h("h3", {}, `${d.collection} · ${time(d.created_at)}`), json(d.data))),
    ] : []);
  }

  function taskCard(task) {
    const text = streamed.get(task.id)?.text ?? "";
    const card = h("details", { class: "task", "data-task": task.key || task.id, open: opened.has(task.id) || text !== "" || task.status === "failed"
        || (task.type === "llm" && task.status === "running") },
      h("summary", {}, h("strong", {}, label(task)), ` ${task.type} `, badge(task.status),
        ` attempt ${task.attempt}/${task.retry.max_attempts}`,
        task.started_at ? ` · ${duration(task.started_at, task.finished_at)}` : "",
        task.waiting_since ? ` · waiting since ${time(task.waiting_since)}` : ""),
      h("div", { class: "pair" },
        task.resolved_input !== null
          ? h("div", {}, h("h3", {}, "Resolved input"), json(task.resolved_input))
          : h("div", {}, h("h3", {}, "Input, as written"), json(task.input)),
        task.output !== null ? h("div", {}, h("h3", {}, "Output"), json(task.output)) : null,
        task.error !== null ? h("div", {}, h("h3", {}, "Error"), json(task.error)) : null),
      text || task.type === "llm" ? [h("h3", {}, "Streamed"), h("pre", { class: "tokens", id: `tokens-${task.id}` }, text)] : null);
    card.addEventListener("toggle", () => (card.open ? opened.add(task.id) : opened.delete(task.id)));
    return card;
  }

  function signalForm() {
    const name = h("input", { id: "signal-name", placeholder: "name", required: true });
    const payload = h("input", { id: "signal-payload", placeholder: "{\"approved\": true}", value: "{}" });
    const said = h("span");
    return h("form", {
      class: "toolbar",
      onsubmit: async (event) => {
        event.preventDefault();
        let body;
        try {
          body = JSON.parse(payload.value || "{}");
        } catch (error) {
          return fill(said, h("span", { class: "answer error" }, `Not JSON: ${error.message}`));
        }
        fill(said, answer(await call("POST", `${base}/signals/${encodeURIComponent(name.value)}`, body)));
        refresh();
      },
    }, name, payload, h("button", { type: "submit" }, "Send signal"), said);
  }

  function onEvent(type, event) {
    const data = JSON.parse(event.data);
    lastEventId = Number(event.lastEventId) || lastEventId;
    log.add(event.lastEventId, type, data);
    if (type === "task.delta") return delta(data);
    // The text streamed so far is void: another call replaces it.
    if (type === "task.rewind") return delta({ ...data, text: "" });
    if (TERMINAL.includes(type)) close();
    refresh();
  }

  function delta({ task_id, attempt, text }) {
    const seen = streamed.get(task_id);
    const now = seen && seen.attempt === attempt && text ? seen.text + text : text;
    streamed.set(task_id, { attempt, text: now });
    const pre = document.getElementById(`tokens-${task_id}`);
    if (!pre) return refresh();
    pre.textContent = now;
    if (!seen || seen.attempt !== attempt) pre.closest("details").open = true;
  }

  function follow() {
    source = events(id, lastEventId);
    connection.textContent = "(live)";
    for (const type of EVENT_TYPES) source.addEventListener(type, (event) => onEvent(type, event));
    source.onerror = () => {
      if (source?.readyState === EventSource.CLOSED) {
        connection.textContent = "(disconnected)";
        source = null;
      }
    };
  }

  function close() {
    source?.close();
    source = null;
    connection.textContent = "(ended)";
  }

  // The stream once the run is known to be there (and the caller's).
  load().then((found) => found && !stopped && follow());
  return {
    stop() {
      stopped = true;
      close();
    },
  };
}
