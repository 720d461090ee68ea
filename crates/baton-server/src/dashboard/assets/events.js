// A workflow's live events (its SSE stream): the kinds there are, and the log shown on its page.

import { h } from "./dom.js";

export const EVENT_TYPES = [
  "workflow.queued", "workflow.started", "workflow.completed", "workflow.failed", "workflow.cancelled",
  "task.started", "task.delta", "task.retrying", "task.completed", "task.failed", "task.skipped",
  "task.fanned_out", "task.child_started", "task.waiting", "task.rewind", "signal.received",
  "budget.exceeded", "workflow.resumed",
];

export const TERMINAL = ["workflow.completed", "workflow.failed", "workflow.cancelled"];

/** The most events the log keeps on screen. */
const KEEP = 500;

export function eventLog() {
  const list = h("ol", { id: "events", class: "events" });
  return {
    el: list,
    add(id, type, data) {
      const summary = type === "task.delta" ? JSON.stringify(data.text) : JSON.stringify(data);
      list.append(h("li", { class: type.replace(".", "-") },
        h("span", { class: "event-id" }, `#${id}`), " ",
        h("strong", {}, type), " ",
        h("code", {}, summary.length > 300 ? `${summary.slice(0, 300)}…` : summary)));
      while (list.childElementCount > KEEP) list.firstElementChild.remove();
    },
  };
}
