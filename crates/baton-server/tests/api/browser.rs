//! A real headless Chromium for the dashboard's tests, driven over WebDriver (W3C JSON over HTTP,
//! spoken with reqwest: a handful of commands) through its own chromedriver on a random loopback
//! port. Without Chromium the tests are skipped with a note, or fail when `BATON_REQUIRE_BROWSER=1`.
//!
//! Every test reads the browser's console (ChromeDriver's log of it) and fails on any error in it,
//! a CSP violation included, unless the test expected it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use baton_testkit::wait_until;
use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

mod console;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Long enough for a page to react on a busy machine; waits end as soon as the condition holds.
pub const WAIT: Duration = Duration::from_secs(30);

/// One browser (and its driver), closed when dropped.
pub struct Browser {
    client: Client,
    session: String,
    name: String,
    console: Vec<Value>,
    _profile: tempfile::TempDir,
    _driver: Child,
}

impl Browser {
    /// A fresh browser, or `None` (with a note) when Chromium is not installed and the run does
    /// not require it. `name` names the test's screenshots.
    pub async fn start(name: &str) -> Option<Browser> {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|path| !Path::new(path).exists())
            .collect();
        if !missing.is_empty() {
            let note = format!(
                "{} missing: install Debian's `chromium` and `chromium-driver` packages to run the \
                 dashboard's browser tests",
                missing.join(" and ")
            );
            assert!(
                std::env::var("BATON_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "BATON_REQUIRE_BROWSER=1 but {note}"
            );
            eprintln!("skipped: {note}");
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("webdriver client");
        let base = format!("http://127.0.0.1:{port}");
        wait_until("chromedriver answers", WAIT, || async {
            client
                .get(format!("{base}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--disable-default-apps",
            "--disable-extensions",
            "--window-size=1280,1100",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("create a browser session")
            .json::<Value>()
            .await
            .expect("a session");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Some(Browser {
            client,
            session: format!("{base}/session/{session}"),
            name: name.to_owned(),
            console: Vec::new(),
            _profile: profile,
            _driver: driver,
        })
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.try_command(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body["value"].clone()
    }

    /// A command's status and answer, whatever they are.
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.expect("a WebDriver answer");
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and gives its result.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// The text of the first element matching `css`, or `None` when there is none.
    pub async fn text(&self, css: &str) -> Option<String> {
        let found = self
            .run(
                "const el = document.querySelector(arguments[0]); return el && el.textContent;",
                json!([css]),
            )
            .await;
        found.as_str().map(str::to_owned)
    }

    /// The text of the first element matching `css` when it is shown (not hidden, nor in a
    /// closed `<details>`).
    pub async fn visible_text(&self, css: &str) -> Option<String> {
        let found = self
            .run(
                "const el = document.querySelector(arguments[0]); \
                 return el && el.checkVisibility() ? el.textContent : null;",
                json!([css]),
            )
            .await;
        found.as_str().map(str::to_owned)
    }

    /// Waits until an element matches `css` and its text contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) {
        wait_until(&format!("`{css}` shows {text:?}"), WAIT, || async {
            self.text(css).await.is_some_and(|t| t.contains(text))
        })
        .await;
    }

    /// Waits until `script` (a function body) returns true in the page.
    pub async fn wait_for(&self, what: &str, script: &str) {
        wait_until(what, WAIT, || async {
            self.run(script, json!([])).await == json!(true)
        })
        .await;
    }

    async fn element(&self, css: &str) -> String {
        wait_until(&format!("`{css}` is on the page"), WAIT, || async {
            self.text(css).await.is_some()
        })
        .await;
        let found = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        found[ELEMENT].as_str().expect("an element").to_owned()
    }

    /// Clicks the element matching `css` (waiting for it), as a user would. A page that redraws
    /// the element between finding and clicking it (a refresh) makes it stale: it is found again;
    /// one not shown yet (the page is still deciding what to show) is clicked once it shows.
    pub async fn click(&self, css: &str) {
        wait_until(&format!("`{css}` is clicked"), WAIT, || async {
            let element = self.element(css).await;
            let (status, answer) = self
                .try_command(
                    reqwest::Method::POST,
                    &format!("/element/{element}/click"),
                    Some(json!({})),
                )
                .await;
            let error = &answer["value"]["error"];
            let again = error == "stale element reference" || error == "element not interactable";
            assert!(
                status.is_success() || again,
                "click {css}: {status} {answer}"
            );
            status.is_success()
        })
        .await;
    }

    /// Types `text` into the field matching `css` (waiting for it), after clearing it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.post(&format!("/element/{element}/clear"), json!({}))
            .await;
        if !text.is_empty() {
            self.post(&format!("/element/{element}/value"), json!({"text": text}))
                .await;
        }
    }

    /// Picks the option of value `value` of the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// Saves a screenshot of the page as `target/artifacts/dashboard/<test>-<page>.png`.
    pub async fn screenshot(&self, page: &str) -> PathBuf {
        let shot = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = STANDARD
            .decode(shot.as_str().expect("a base64 screenshot"))
            .expect("base64");
        let dir = artifacts();
        std::fs::create_dir_all(&dir).expect("the artifacts directory");
        let path = dir.join(format!("{}-{page}.png", self.name));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium with its session; the driver is killed with its handle.
        let client = self.client.clone();
        let session = self.session.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let _ = std::thread::spawn(move || {
                handle.block_on(async move {
                    let _ = client.delete(session).send().await;
                })
            })
            .join();
        }
    }
}

/// `target/artifacts/dashboard/` of the workspace.
pub fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("artifacts").join("dashboard")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
