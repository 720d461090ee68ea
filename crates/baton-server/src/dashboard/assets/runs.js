// The runs page: the caller's workflows newest first, filtered by status and name, a page at a
// time (keyset: `next_cursor`), refreshed every two seconds.

import { call, get, withQuery } from "./api.js";
import { answer, badge, duration, fill, h, time } from "./dom.js";

const STATUSES = ["", "pending", "queued", "running", "paused", "completed", "failed", "cancelled"];
const EVERY_MS = 2000;
const PAGE = 20;

const EXAMPLE = {
  name: "hello",
  input: { who: "world" },
  start: true,
  tasks: [{ key: "greet", type: "transform", input: { jq: "{greeting: (\"hello \" + .input.who)}" } }],
};

export function runsPage(main) {
  // The cursors of the pages before this one and of this one (`null`: the newest).
  const cursors = [null];
  let next = null;
  let stopped = false;
  let asked = 0;
  let drawn = null;

  const status = h("select", { id: "status-filter", onchange: restart },
    STATUSES.map((s) => h("option", { value: s }, s || "any status")));
  const search = debounce(restart, 250);
  const name = h("input", { id: "name-filter", type: "search", placeholder: "Search by name", oninput: search, onchange: search });
  const rows = h("tbody", { id: "runs" });
  const note = h("p", { class: "muted", id: "runs-note" });
  const newer = h("button", { id: "newer", type: "button", onclick: () => { cursors.pop(); load(); } }, "← Newer");
  const older = h("button", { id: "older", type: "button", onclick: () => { cursors.push(next); load(); } }, "Older →");

  function restart() {
    cursors.length = 1;
    load();
  }

  async function load() {
    const mine = ++asked;
    const path = withQuery("/api/workflows", {
      status: status.value, name: name.value.trim(), limit: PAGE, cursor: cursors.at(-1),
    });
    try {
      const page = await get(path);
      if (stopped || mine !== asked) return;
      next = page.next_cursor;
      // Redrawn when something changed, or to tick the durations of running runs.
      const shown = JSON.stringify(page.data);
      if (shown !== drawn || page.data.some((w) => w.status === "running")) fill(rows, page.data.map(row));
      drawn = shown;
      fill(note, page.data.length ? "" : "No workflows here yet.");
    } catch (error) {
      if (!stopped && mine === asked) fill(note, error.message);
    }
    newer.disabled = cursors.length === 1;
    older.disabled = !next;
  }

  fill(main,
    h("h1", {}, "Runs"),
    h("div", { class: "toolbar" }, status, name),
    h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ["Name", "Status", "Tasks", "Created", "Duration"].map((t) => h("th", {}, t)))),
      rows),
    note,
    h("div", { class: "pager" }, newer, older),
    newWorkflow(load));
  load();
  const timer = setInterval(load, EVERY_MS);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

function row(w) {
  const done = w.tasks.filter((t) => ["completed", "skipped"].includes(t.status)).length;
  return h("tr", { "data-id": w.id, "data-status": w.status },
    h("td", {}, h("a", { href: `#/runs/${w.id}` }, w.name)),
    h("td", {}, badge(w.status)),
    h("td", {}, `${done}/${w.tasks.length}`),
    h("td", {}, time(w.created_at)),
    h("td", {}, w.started_at ? duration(w.started_at, w.finished_at) : "—"));
}

/** A form to create a workflow from its JSON (the body of POST /api/workflows). */
function newWorkflow(created) {
  const body = h("textarea", { id: "new-workflow", rows: 10, spellcheck: "false" });
  body.value = JSON.stringify(EXAMPLE, null, 2);
  const result = h("div");
  return h("details", { class: "new" },
    h("summary", {}, "New workflow"),
    h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        let parsed;
        try {
          parsed = JSON.parse(body.value);
        } catch (error) {
          return fill(result, h("p", { class: "answer error" }, `Not JSON: ${error.message}`));
        }
        const answered = await call("POST", "/api/workflows", parsed);
        fill(result, answer(answered),
          answered.status === 201 ? h("a", { href: `#/runs/${answered.data.id}` }, "Open it") : null);
        created();
      },
    }, body, h("button", { type: "submit", id: "create" }, "Create"), result));
}

function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
