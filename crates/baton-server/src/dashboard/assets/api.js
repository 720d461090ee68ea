// The public API, called with the tab's credentials: an access token or an API key, kept in
// sessionStorage (this tab only), sent as `Authorization: Bearer`.

const KEY = "baton.credentials";

export const credentials = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

let unauthorized = () => {};

/** What to do when the API answers 401 (the credentials are missing, expired or revoked). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** `{status, data}` of a call; never throws for an HTTP status. */
export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = credentials.get();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (response.status === 401) unauthorized(data);
  return { status: response.status, data };
}

export class ApiError extends Error {
  constructor(result) {
    super(`${result.status} ${result.data?.code ?? ""}: ${result.data?.error ?? "failed"}`);
    this.status = result.status;
  }
}

/** The body of a successful GET, else an ApiError. */
export async function get(path) {
  const result = await call("GET", path);
  if (result.status >= 400) throw new ApiError(result);
  return result.data;
}

/** A path with its query string, leaving out empty values. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** The events of a workflow as they happen (EventSource cannot send headers: the stream takes
 * the credentials as `access_token`). `after`: the last event id already seen. */
export function events(workflowId, after) {
  const path = withQuery(`/api/workflows/${encodeURIComponent(workflowId)}/events`, {
    access_token: credentials.get(),
    last_event_id: after || undefined,
  });
  return new EventSource(path);
}
