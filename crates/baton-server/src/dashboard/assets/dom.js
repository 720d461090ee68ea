// Building the page: elements from data (text is always text, never parsed as HTML) and the
// formatting of times, durations and JSON.

/** `h("a", {href: "#/"}, "Runs")`: an element with attributes (`on*` as listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

/** An SVG element (attributes only). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Pretty-printed JSON in a `<pre>`. */
export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function badge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

export function time(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

/** `1.2 s`, `340 ms`, `3 min 4 s` between two instants (the second defaults to now). */
export function duration(from, to) {
  if (!from) return "—";
  const ms = (to ? new Date(to) : new Date()) - new Date(from);
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** The answer of an action, shown as the API gave it. */
export function answer(result) {
  const ok = result.status < 400;
  const text = ok
    ? `${result.status}: ${result.data?.status ?? "done"}`
    : `${result.status} ${result.data?.code ?? ""}: ${result.data?.error ?? "failed"}`;
  return h("p", { class: ok ? "answer ok" : "answer error", role: "status" }, text);
}
