//! `baton run --follow` survives the server restarting mid-run: it reconnects with
//! Last-Event-ID, misses nothing, repeats nothing, and exits with the run's outcome.

use std::time::Duration;

use baton_testkit::{BatonProcess, FakeLlm, Script, TestDatabase, wait_until};
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{BATON, finish, path_str, spawn, workflow_file};

#[tokio::test(flavor = "multi_thread")]
async fn a_followed_run_survives_the_server_restarting_and_prints_each_token_once() {
    let db = TestDatabase::new();
    let fake = FakeLlm::start().await;
    fake.script([Script::reply(&["alpha ", "beta ", "gamma"])]);
    let slow = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true}))
                .set_delay(Duration::from_millis(2500)),
        )
        .mount(&slow)
        .await;
    let vars = [
        ("BATON_LEASE_MS", "2000"),
        ("BATON_POLL_MS", "100"),
        ("BATON_LLM_BASE_URL", fake.base_url.as_str()),
        ("BATON_LLM_API_KEY", "sk-test"),
        ("BATON_LLM_MODEL", "fake-model"),
    ];
    let mut first = BatonProcess::start(BATON, &db.url, &vars).await;
    let workflow = format!(
        "name: story\ntasks:\n  - key: story\n    type: llm\n    input: {{prompt: Tell me}}\n  \
         - key: wait\n    type: fetch\n    input: {{url: '{}/slow'}}\n  \
         - type: transform\n    input: {{jq: '{{story: .steps.story.output.text, ok: .prev.body.ok}}'}}\n",
        slow.uri()
    );
    let (_dir, file) = workflow_file("story.yaml", &workflow);
    let cli = spawn(&first.address, None, &["run", path_str(&file), "--follow"]);

    // Kill the server while the slow step is in flight (the tokens were streamed before it).
    wait_until(
        "the slow step is in flight",
        Duration::from_secs(60),
        || async { !slow.received_requests().await.unwrap().is_empty() },
    )
    .await;
    first.kill9();
    let second = BatonProcess::start_on_port(BATON, &db.url, &vars, first.port).await;

    let out = finish(cli).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        out.json(),
        json!({"story": "alpha beta gamma", "ok": true}),
        "{out:#?}"
    );
    assert_eq!(
        out.stderr.matches("alpha beta gamma").count(),
        1,
        "each token printed once: {out:#?}"
    );
    assert!(
        out.stderr.contains("reconnecting"),
        "it lost the connection: {out:#?}"
    );
    assert!(
        out.stderr.contains("#1 wait (fetch) running (attempt 2)"),
        "the interrupted step ran again on the new server: {out:#?}"
    );
    assert_eq!(
        out.stderr.matches("✓ #0 story (llm) completed").count(),
        1,
        "{out:#?}"
    );
    assert_eq!(
        fake.requests().len(),
        1,
        "the completed llm step never ran again"
    );

    // The new server reaped the dead one's lease, and says so.
    let metrics = crate::metrics::scrape(&second).await;
    assert_eq!(
        metrics.get(r#"baton_leases_expired_total{type="fetch"}"#),
        1.0
    );
    assert_eq!(
        metrics.get(r#"baton_tasks_retried_total{type="fetch"}"#),
        1.0
    );
    assert_eq!(
        metrics.get(r#"baton_tasks_completed_total{type="fetch"}"#),
        1.0
    );
}
