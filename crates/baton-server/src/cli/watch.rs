//! Watching a run: progress on stderr as its events arrive, its output on stdout at the end, and
//! the exit code its outcome calls for.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

use super::client::Client;
use super::error::{CliError, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK};
use super::follow::{StreamEvent, Update, follow};
use super::output::print_json;
use super::progress::{Progress, TaskInfo, error_text};

/// Follows `workflow_id` to its end. Prints its output (or, with `json`, the finished workflow)
/// on stdout; 0 when it completed, [`EXIT_FAILED`] or [`EXIT_CANCELLED`] otherwise.
pub async fn watch(client: &Client, workflow_id: &str, json: bool) -> Result<ExitCode, CliError> {
    let workflow = client.get(&format!("/api/workflows/{workflow_id}")).await?;
    let mut tasks = labels(&workflow);
    let mut progress = Progress::new();
    let (tx, mut rx) = mpsc::channel(256);
    let follower = {
        let client = client.clone();
        let id = workflow_id.to_owned();
        tokio::spawn(async move { follow(&client, &id, None, tx).await })
    };
    while let Some(update) = rx.recv().await {
        match update {
            Update::Reconnecting(why) => progress.reconnecting(&why),
            Update::Event(event) => {
                let info = describe(client, &mut tasks, &event).await;
                progress.show(&event, info.as_ref());
            }
        }
    }
    progress.finish();
    let terminal = follower
        .await
        .map_err(|err| CliError::Other(format!("the event follower stopped: {err}")))??;
    finish(client, workflow_id, &terminal, json).await
}

/// Prints the result of a finished run and picks the exit code.
async fn finish(
    client: &Client,
    workflow_id: &str,
    terminal: &StreamEvent,
    json: bool,
) -> Result<ExitCode, CliError> {
    if json {
        print_json(&client.get(&format!("/api/workflows/{workflow_id}")).await?);
    }
    let code = match terminal.event.as_str() {
        "workflow.completed" => {
            if !json {
                print_json(&terminal.data["output"]);
            }
            EXIT_OK
        }
        "workflow.failed" => {
            eprintln!(
                "error: workflow {workflow_id} failed: {}",
                error_text(&terminal.data["error"])
            );
            EXIT_FAILED
        }
        _ => {
            eprintln!("error: workflow {workflow_id} was cancelled");
            EXIT_CANCELLED
        }
    };
    Ok(ExitCode::from(code))
}

/// Labels of the tasks a workflow was read with, by id.
fn labels(workflow: &Value) -> HashMap<String, TaskInfo> {
    workflow["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|task| Some((task["id"].as_str()?.to_owned(), info(task))))
        .collect()
}

fn info(task: &Value) -> TaskInfo {
    let name = task["key"]
        .as_str()
        .or_else(|| task["title"].as_str())
        .filter(|name| !name.is_empty())
        .map_or_else(String::new, |name| format!(" {name}"));
    let index = task["element_index"]
        .as_i64()
        .map_or_else(String::new, |i| format!("[{i}]"));
    TaskInfo {
        label: format!(
            "#{}{name}{index} ({})",
            task["position"].as_i64().unwrap_or(0),
            task["type"].as_str().unwrap_or("?")
        ),
        duration: run_time(task),
    }
}

fn run_time(task: &Value) -> Option<Duration> {
    let at = |field: &str| {
        task[field]
            .as_str()
            .and_then(|s| s.parse::<DateTime<Utc>>().ok())
    };
    (at("finished_at")? - at("started_at")?).to_std().ok()
}

/// What to say about the task an event is about; a finished task's row is read again for its
/// duration, and tasks created while running (fan-out elements) are read when first seen.
async fn describe(
    client: &Client,
    tasks: &mut HashMap<String, TaskInfo>,
    event: &StreamEvent,
) -> Option<TaskInfo> {
    let task_id = event.data["task_id"].as_str()?;
    let finished = matches!(event.event.as_str(), "task.completed" | "task.failed");
    if finished || !tasks.contains_key(task_id) {
        // A progress line is not worth failing the run over: keep what is known.
        if let Ok(task) = client.get(&format!("/api/tasks/{task_id}")).await {
            let mut fresh = info(&task);
            if !finished {
                fresh.duration = None;
            }
            tasks.insert(task_id.to_owned(), fresh);
        }
    }
    tasks.get(task_id).cloned()
}
