#![doc = include_str!("../README.md")]

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use baton_domain::ports::Scope;
use baton_domain::{NewWorkflow, TaskDraft, UserId, WorkflowStatus};
use baton_engine::{EngineConfig, Runtime};
use baton_fetch::ReqwestFetcher;
use baton_postgres::{PgConfig, PgSignals, PgStore};
use serde_json::json;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/baton_embed";

fn task(key: &str, task_type: &str, input: serde_json::Value) -> TaskDraft {
    TaskDraft {
        key: Some(key.into()),
        task_type: task_type.into(),
        input: Some(input),
        ..TaskDraft::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    baton_postgres::create_database_if_missing(&url).await?;
    baton_postgres::run_migrations(&url).await?;
    let store = Arc::new(PgStore::connect(&PgConfig::new(url.clone()))?);
    let signals = PgSignals::new();
    let listener = signals.listen(url);
    let runtime = Runtime::builder(store.clone(), store.clone(), store)
        .signals(signals)
        .fetcher(Arc::new(ReqwestFetcher::new(false)?))
        .config(EngineConfig {
            workers: 4,
            ..EngineConfig::default()
        })
        .start();

    let workflow = NewWorkflow::new(
        UserId::LOCAL_ADMIN,
        "embedded greeting".into(),
        Some(json!({"name": "Ada"})),
        vec![
            task(
                "greet",
                "transform",
                json!({"jq": "\"Hello, \" + .input.name"}),
            ),
            task("shout", "transform", json!({"jq": ".prev | ascii_upcase"})),
            task(
                "keep",
                "store",
                json!({"collection": "greetings", "document": {"text": "{{ prev }}"}}),
            ),
        ],
    )?;
    let id = workflow.id();
    // Subscribe before starting, so no live event is missed; history fills any gap.
    let mut live = runtime.events().subscribe(id).await?;
    runtime.workflows().create(workflow, true).await?;
    println!("started workflow {id}");

    let log = runtime.events().log().clone();
    let mut last = 0;
    let finished = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            for event in log.events_after(id, last, 100).await? {
                last = event.id;
                println!("{:>4} {:<20} {}", event.id, event.event_type, event.data);
                if event.is_terminal() {
                    return anyhow::Ok(());
                }
            }
            // Wait for the next live event (or a second, whichever comes first).
            let _ = tokio::time::timeout(Duration::from_secs(1), live.events.recv()).await;
        }
    })
    .await
    .context("the workflow did not finish within 30 s")?;
    finished?;

    let done = runtime.workflows().get(Scope::All, id).await?;
    println!("workflow {}: output {}", done.status, json!(done.output));
    runtime.shutdown(Duration::from_secs(5)).await;
    listener.abort();
    if done.status != WorkflowStatus::Completed {
        bail!("the workflow ended {}", done.status);
    }
    Ok(())
}
