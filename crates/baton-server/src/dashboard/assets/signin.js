// Signing in: an email and password (POST /api/auth/login gives an access token), or an access
// token or API key pasted as it is. What is kept is kept for this tab only.

import { call, credentials } from "./api.js";
import { answer, fill, h } from "./dom.js";

export function signInPage(main, message, done) {
  const status = h("div", { id: "sign-in-status" }, message ? h("p", { class: "answer error" }, message) : null);

  async function accept(token) {
    credentials.set(token);
    const check = await call("GET", "/api/workflows?limit=1");
    if (check.status === 200) return done();
    credentials.clear();
    fill(status, answer(check));
  }

  const email = h("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const login = h("form", {
    id: "login-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const result = await call("POST", "/api/auth/login", { email: email.value, password: password.value });
      if (result.status === 200) return accept(result.data.access_token);
      fill(status, answer(result));
    },
  },
    h("h2", {}, "Email and password"),
    h("label", {}, "Email", email),
    h("label", {}, "Password", password),
    h("button", { type: "submit", id: "login" }, "Sign in"));

  const token = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const paste = h("form", {
    id: "token-form",
    onsubmit: (event) => {
      event.preventDefault();
      accept(token.value.trim());
    },
  },
    h("h2", {}, "Access token or API key"),
    h("label", {}, "Token", token),
    h("button", { type: "submit", id: "use-token" }, "Use it"));

  fill(main, h("section", { class: "sign-in" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Authentication is on. Your credentials stay in this tab only."),
    status, login, paste));
  email.focus();
  return { stop() {} };
}
