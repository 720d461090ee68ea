//! Each client command: one call (or a run followed to its end) and its result on stdout.

use std::process::ExitCode;

use serde_json::Value;

use super::client::Client;
use super::error::{CliError, EXIT_OK};
use super::follow::{Update, follow};
use super::output::{document_rows, print_json, workflow_detail, workflow_rows};
use super::submit::{body, read_input, read_workflow};
use super::watch::watch;
use super::{ClientCommand, Connection, DocumentsArgs, EventsArgs, RunArgs, WorkflowsCommand};

/// The credentials are read from the environment only, never from the command line (where
/// other users of the machine could read them).
fn client(connection: &Connection) -> Result<Client, CliError> {
    Client::new(&connection.url, std::env::var("BATON_TOKEN").ok())
}

fn ok() -> Result<ExitCode, CliError> {
    Ok(ExitCode::from(EXIT_OK))
}

pub async fn dispatch(command: ClientCommand) -> Result<ExitCode, CliError> {
    match command {
        ClientCommand::Run(args) => run(args).await,
        ClientCommand::Workflows(command) => workflows(command).await,
        ClientCommand::Events(args) => events(args).await,
        ClientCommand::Documents(args) => documents(args).await,
    }
}

async fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let workflow = read_workflow(&args.file)?;
    let input = args.input.as_deref().map(read_input).transpose()?;
    let client = client(&args.connection)?;
    let created = client
        .post("/api/workflows", Some(&body(workflow, input)))
        .await?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| CliError::Other("the created workflow has no id".into()))?
        .to_owned();
    if args.follow {
        eprintln!("created workflow {id}");
        return watch(&client, &id, args.connection.json).await;
    }
    if args.connection.json {
        print_json(&created);
    } else {
        println!("{id}");
        eprintln!(
            "created workflow {id} ({}), {}; follow it with `baton events {id}`",
            created["name"].as_str().unwrap_or(""),
            created["status"].as_str().unwrap_or("")
        );
    }
    ok()
}

async fn workflows(command: WorkflowsCommand) -> Result<ExitCode, CliError> {
    match command {
        WorkflowsCommand::List {
            status,
            limit,
            cursor,
            connection,
        } => {
            let path = with_query(
                "/api/workflows",
                &[
                    ("status", status),
                    ("limit", limit.map(|l| l.to_string())),
                    ("cursor", cursor),
                ],
            );
            let page = client(&connection)?.get(&path).await?;
            print_page(&page, connection.json, workflow_rows);
            ok()
        }
        WorkflowsCommand::Get { id, connection } => {
            let workflow = client(&connection)?
                .get(&format!("/api/workflows/{}", segment(&id)))
                .await?;
            if connection.json {
                print_json(&workflow);
            } else {
                println!("{}", workflow_detail(&workflow));
            }
            ok()
        }
        WorkflowsCommand::Cancel { id, connection } => {
            let client = client(&connection)?;
            let workflow = client
                .post(&format!("/api/workflows/{}/cancel", segment(&id)), None)
                .await?;
            print_action(&workflow, connection.json);
            ok()
        }
        WorkflowsCommand::Retry {
            id,
            follow,
            connection,
        } => {
            let client = client(&connection)?;
            let id = segment(&id);
            let workflow = client
                .post(&format!("/api/workflows/{id}/retry"), None)
                .await?;
            if follow {
                eprintln!("retrying workflow {id}");
                return watch(&client, &id, connection.json).await;
            }
            print_action(&workflow, connection.json);
            ok()
        }
    }
}

fn print_action(workflow: &Value, json: bool) {
    if json {
        print_json(workflow);
    } else {
        println!(
            "{}  {}",
            workflow["id"].as_str().unwrap_or("-"),
            workflow["status"].as_str().unwrap_or("-")
        );
    }
}

/// Events one per line (`<id> <type> <data>`), or one JSON object per line with `--json`.
async fn events(args: EventsArgs) -> Result<ExitCode, CliError> {
    let client = client(&args.connection)?;
    let id = segment(&args.id);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let follower = {
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move { follow(&client, &id, args.after, tx).await })
    };
    while let Some(update) = rx.recv().await {
        match update {
            Update::Event(event) if args.connection.json => println!(
                "{}",
                serde_json::json!({"id": event.id, "event": event.event, "data": event.data})
            ),
            Update::Event(event) => println!("{} {} {}", event.id, event.event, event.data),
            Update::Reconnecting(why) => eprintln!("… connection lost ({why}); reconnecting"),
        }
    }
    follower
        .await
        .map_err(|err| CliError::Other(format!("the event follower stopped: {err}")))??;
    ok()
}

async fn documents(args: DocumentsArgs) -> Result<ExitCode, CliError> {
    let path = with_query(
        "/api/documents",
        &[
            ("collection", args.collection),
            ("limit", args.limit.map(|l| l.to_string())),
            ("cursor", args.cursor),
        ],
    );
    let page = client(&args.connection)?.get(&path).await?;
    print_page(&page, args.connection.json, document_rows);
    ok()
}

/// A page as JSON, or as rows with a hint for the next page on stderr.
fn print_page(page: &Value, json: bool, rows: fn(&Value) -> String) {
    if json {
        print_json(page);
        return;
    }
    println!("{}", rows(page));
    if let Some(cursor) = page["next_cursor"].as_str() {
        eprintln!("more: add --cursor {cursor}");
    }
}

/// `path?a=1&b=2` with the given parameters (those set), encoded.
fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let mut query = reqwest::Url::parse("http://query.invalid/").ok();
    let mut any = false;
    if let Some(url) = query.as_mut() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                pairs.append_pair(name, value);
                any = true;
            }
        }
    }
    match query.as_ref().and_then(|u| u.query()) {
        Some(q) if any => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

/// An id as one path segment (a stray `/` or `?` cannot reach another route).
fn segment(id: &str) -> String {
    let mut url = match reqwest::Url::parse("http://segment.invalid/") {
        Ok(url) => url,
        Err(_) => return id.to_owned(),
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.push(id.trim());
    }
    url.path().trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_carry_only_the_parameters_given_encoded() {
        assert_eq!(with_query("/api/x", &[("a", None)]), "/api/x");
        assert_eq!(
            with_query("/api/x", &[("a", Some("b c&d".into())), ("e", None)]),
            "/api/x?a=b+c%26d"
        );
        assert_eq!(segment("../admin?x"), "..%2Fadmin%3Fx");
    }
}
