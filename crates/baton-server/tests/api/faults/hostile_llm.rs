//! A model stream with NUL characters, or chunks that are not JSON; an error answer whose body
//! never ends.

use baton_testkit::{Api, FakeLlm, Script, TestApp};

use super::raw_server::{Misbehaviour, RawServer};
use super::{LIMIT, read_back};
use crate::helpers::id_of;
use crate::runs::DONE;
use crate::streaming::{llm_app, llm_workflow};

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_in_streamed_text_are_kept_replaced() {
    let fake = FakeLlm::start().await;
    fake.script([Script::reply(&["Hel\u{0}lo", ", \u{0}", "world"])]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let id = id_of(&wf);
    let done = app.wait_for_workflow(id, DONE, LIMIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let tasks = read_back(&app, id, "completed").await;
    assert_eq!(tasks[0]["output"]["text"], "Hel\u{FFFD}lo, \u{FFFD}world");
    assert_eq!(tasks[0]["attempt"], 1);
    let streamed: String = app
        .events_of_type("task.delta")
        .await
        .iter()
        .map(|d| d["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(streamed, "Hel\u{FFFD}lo, \u{FFFD}world");
}

#[tokio::test(flavor = "multi_thread")]
async fn chunks_that_are_not_json_fail_after_max_attempts_and_no_more() {
    let fake = FakeLlm::start().await;
    let broken = || Script::Raw {
        frames: vec![
            b"data: {\"choices\": [{\"delta\": {\"content\": \"ok \"}}]}\n\n".to_vec(),
            b"data: {not json\0 \xff\n\n".to_vec(),
        ],
    };
    // llm_workflow allows 3 attempts; a fourth script would be the fake's good default reply.
    fake.script([broken(), broken(), broken()]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let id = id_of(&wf);
    let done = app.wait_for_workflow(id, DONE, LIMIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    let tasks = read_back(&app, id, "failed").await;
    assert_eq!(tasks[0]["error"]["kind"], "llm_stream", "{}", tasks[0]);
    assert_eq!(tasks[0]["attempt"], 3);
    assert_eq!(
        fake.requests().len(),
        3,
        "retried up to max_attempts, no more"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_answer_with_a_body_that_never_ends_is_cut_and_retried_within_max_attempts() {
    let provider = RawServer::start(Misbehaviour::EndlessError).await;
    let base_url = provider.url.trim_end_matches('/').to_owned();
    let app = TestApp::spawn_with(&[
        ("BATON_LLM_BASE_URL", base_url.as_str()),
        ("BATON_LLM_API_KEY", "sk-test"),
        ("BATON_LLM_MODEL", "fake-model"),
    ])
    .await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let id = id_of(&wf);
    // Read to its end, one body alone would take until the task's timeout and all the memory.
    let done = app.wait_for_workflow(id, DONE, LIMIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    let tasks = read_back(&app, id, "failed").await;
    assert_eq!(tasks[0]["error"]["kind"], "llm_unavailable", "{}", tasks[0]);
    assert_eq!(tasks[0]["attempt"], 3);
    let message = tasks[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("HTTP 500"), "{message}");
    assert!(message.contains("xxx"), "the excerpt is kept: {message}");
    assert_eq!(
        provider.requests(),
        3,
        "retried up to max_attempts, no more"
    );
    // Each answer's reading stopped at 64 KiB: what was taken beyond it is what the sockets'
    // buffers hold, a few MiB at most on loopback.
    let taken = provider.body_bytes_written();
    assert!(
        taken < 3 * 32 * 1024 * 1024,
        "{taken} bytes taken from the provider"
    );
}
