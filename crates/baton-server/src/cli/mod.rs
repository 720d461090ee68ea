//! The client subcommands of the `baton` binary: they talk to a running server (`BATON_URL`,
//! `BATON_TOKEN`) and never read the server's configuration.
//!
//! Exit codes: 0 success (a followed run completed), 1 an error (the API's, an unreachable
//! server, a bad file), 2 bad usage, 3 the followed run failed, 4 it was cancelled.

mod client;
mod commands;
mod error;
mod follow;
mod output;
mod progress;
mod submit;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use client::{Client, DEFAULT_URL};
pub use error::{CliError, EXIT_CANCELLED, EXIT_ERROR, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// How to reach the server, and how to print.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The Baton server (the credentials come from BATON_TOKEN: an access token or API key).
    #[arg(long, env = "BATON_URL", default_value = DEFAULT_URL, global = true)]
    pub url: String,
    /// Print JSON on stdout (for scripts) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Submit a workflow from a YAML or JSON file and start it; --follow watches it to its end.
    Run(RunArgs),
    /// List, read, cancel and retry workflows.
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// Print a workflow's events as they happen, until it ends (resuming a lost connection).
    Events(EventsArgs),
    /// List the documents store tasks wrote.
    Documents(DocumentsArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow: the body of POST /api/workflows, as YAML or JSON.
    pub file: PathBuf,
    /// The workflow's input, replacing the file's: JSON, or @FILE (JSON or YAML).
    #[arg(long)]
    pub input: Option<String>,
    /// Follow the run: progress on stderr, its output on stdout, the exit code its outcome's
    /// (0 completed, 3 failed, 4 cancelled).
    #[arg(long, short)]
    pub follow: bool,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Workflows, newest first.
    List {
        /// Only those with this status (pending, queued, running, completed, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many (1..100).
        #[arg(long)]
        limit: Option<u32>,
        /// The next page (the `next_cursor` of the previous one).
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// One workflow with its tasks.
    Get {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Cancel a workflow.
    Cancel {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Retry a failed workflow from its failed task; --follow watches it to its end.
    Retry {
        id: String,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The workflow's id.
    pub id: String,
    /// Start after this event id (as printed), not from the beginning.
    #[arg(long)]
    pub after: Option<i64>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct DocumentsArgs {
    /// Only this collection.
    #[arg(long)]
    pub collection: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

/// Runs a client command; errors are printed as `error: CODE: message`.
pub async fn run(command: ClientCommand) -> ExitCode {
    match commands::dispatch(command).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    }
}
