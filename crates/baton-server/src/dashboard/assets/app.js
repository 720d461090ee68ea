// The dashboard's entry: which page the address names (`#/` the runs, `#/runs/<id>` a run),
// and signing in when the API asks for credentials.

import { call, credentials, onUnauthorized } from "./api.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";
import { signInPage } from "./signin.js";

const main = document.getElementById("main");
const signOut = document.getElementById("sign-out");
let page = null;
let signingIn = false;

function show(next) {
  page?.stop();
  page = next;
}

function route() {
  signingIn = false;
  signOut.hidden = !credentials.get();
  const hash = location.hash.replace(/^#/, "") || "/";
  const run = hash.match(/^\/runs\/([0-9a-fA-F-]{36})$/);
  show(run ? runPage(main, run[1]) : runsPage(main));
}

function signIn(message) {
  if (signingIn) return;
  signingIn = true;
  signOut.hidden = true;
  show(signInPage(main, message, route));
}

onUnauthorized((body) => signIn(credentials.get() ? body?.error : undefined));
signOut.addEventListener("click", () => {
  credentials.clear();
  signIn();
});
window.addEventListener("hashchange", () => {
  if (!signingIn) route();
});

// In local mode (authentication off) the API answers without credentials: open directly.
const probe = await call("GET", "/api/workflows?limit=1");
if (probe.status !== 401) route();
