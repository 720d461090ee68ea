//! What the browser's console logged: every test fails on an error in it.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Browser, WAIT};

impl Browser {
    /// Everything the console has logged so far (each entry: level, message, source).
    pub async fn console(&mut self) -> &[Value] {
        let entries = self.post("/se/log", json!({"type": "browser"})).await;
        self.console
            .extend(entries.as_array().cloned().unwrap_or_default());
        &self.console
    }

    /// Waits until the console has logged an entry that `matches`.
    pub async fn wait_for_console(&mut self, what: &str, matches: impl Fn(&Value) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.console().await.iter().any(&matches) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {WAIT:?} waiting until the console shows {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fails on any console error (a CSP violation, an uncaught exception, `console.error`, a
    /// failed load), except failed requests answered with one of `expected` (an HTTP status the
    /// test caused, shown by the page, such as a 409 or a 401).
    pub async fn assert_clean_console(&mut self, expected: &[u16]) {
        let unexpected: Vec<Value> = self
            .console()
            .await
            .iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .filter(|e| !expected_failure(e, expected))
            .cloned()
            .collect();
        assert!(
            unexpected.is_empty(),
            "the console has errors: {unexpected:#?}"
        );
    }
}

fn expected_failure(entry: &Value, expected: &[u16]) -> bool {
    let message = entry["message"].as_str().unwrap_or_default();
    entry["source"] == "network"
        && expected
            .iter()
            .any(|status| message.contains(&format!("status of {status} ")))
}
