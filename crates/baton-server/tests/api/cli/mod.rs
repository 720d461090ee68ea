//! The `baton` client commands end to end: the real binary as a child process against a real
//! server, asserting its stdout, stderr and exit code.

mod commands;
mod restart;
mod runs;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

pub const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// How long a CLI invocation may take before the test fails.
const CLI_LIMIT: Duration = Duration::from_secs(120);

/// What a finished `baton` invocation left.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Stdout as JSON, failing the test with both streams when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:#?}"))
    }
}

/// `baton <args>` talking to `url` (with `BATON_TOKEN` when given), started but not awaited.
pub fn spawn(url: &str, token: Option<&str>, args: &[&str]) -> Child {
    let mut command = Command::new(BATON);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BATON_URL", url)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("BATON_TOKEN", token);
    }
    command.spawn().expect("start the baton CLI")
}

/// Waits for a spawned invocation to end.
pub async fn finish(child: Child) -> Outcome {
    let output = tokio::time::timeout(CLI_LIMIT, child.wait_with_output())
        .await
        .expect("the CLI finished in time")
        .expect("the CLI's output");
    Outcome {
        code: output.status.code().expect("an exit code (not a signal)"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// `baton <args>` to its end.
pub async fn baton(url: &str, args: &[&str]) -> Outcome {
    finish(spawn(url, None, args)).await
}

/// A workflow file in a temporary directory (kept while the returned guard lives).
pub fn workflow_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the workflow file");
    (dir, path)
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
