//! The shipped `baton serve`, spawned as a child process the way a user runs it: configured by
//! environment variables only, logging at its default level into a file, listening on a free
//! loopback port. The child is killed when its [`Served`] is stopped or dropped (a failed phase
//! kills it too), and its log is kept when it did not end through [`Served::stop`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Client;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::settings::Settings;

/// How long the child may take to answer GET /readyz (a fresh Postgres database is created
/// and migrated first).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Lines of the child's log quoted when it fails.
const LOG_TAIL_LINES: usize = 20;

/// How to configure one `baton serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub database_url: String,
    /// `BATON_WORKERS` (0: the API only).
    pub workers: usize,
    /// `BATON_DB_POOL_SIZE`.
    pub pool: usize,
    /// `BATON_FETCH_ALLOW_PRIVATE`: fetch tasks may reach the bench's own loopback server.
    pub fetch_allow_private: bool,
}

/// A running `baton serve`.
pub struct Served {
    child: Child,
    pid: u32,
    pub base_url: String,
    /// The child's working directory, holding its log (and nothing else: no `.env` to read).
    dir: PathBuf,
    stopped: bool,
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fails when the child has exited (it never should on its own), quoting its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "baton serve exited on its own ({status}); the end of its log:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// Kills the child (SIGKILL: the store is scratch and durable anyway), waits for it to be
    /// gone and removes its directory. Fails when it had already exited on its own.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.check_alive()?;
        self.child.kill().await.context("cannot kill baton serve")?;
        self.stopped = true;
        std::fs::remove_dir_all(&self.dir)
            .with_context(|| format!("cannot remove {}", self.dir.display()))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("baton.log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if !self.stopped {
            // `kill_on_drop` would do it as well; this makes it immediate.
            let _ = self.child.start_kill();
            eprintln!(
                "warning: baton serve (pid {}) was stopped after a failure; its log is kept in {}",
                self.pid,
                self.log_path().display()
            );
        }
    }
}

/// The `baton` executable: `BENCH_BATON_BIN`, or `baton` next to this executable.
pub fn baton_binary(settings: &Settings) -> anyhow::Result<PathBuf> {
    let path = match &settings.baton_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("cannot find the bench's own executable")?
            .with_file_name(format!("baton{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "no baton executable at {} (BENCH_BATON_BIN); build it with \
             `cargo build --release -p baton-server`",
            path.display()
        );
    }
    Ok(path)
}

/// Spawns `baton serve` with `config` and waits until GET /readyz answers 200.
pub async fn spawn(
    settings: &Settings,
    client: &Client,
    config: &ServeConfig,
) -> anyhow::Result<Served> {
    let binary = baton_binary(settings)?;
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!(
        "baton-bench-serve-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("baton.log"))
        .with_context(|| format!("cannot create the log file in {}", dir.display()))?;
    let child = command(&binary, &dir, port, config)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut served = Served {
        pid: child.id().context("baton serve exited at once")?,
        child,
        base_url: format!("http://127.0.0.1:{port}"),
        dir,
        stopped: false,
    };
    wait_ready(&mut served, client).await?;
    Ok(served)
}

/// `baton serve` with only the variables it needs (nothing inherited: no `RUST_LOG`, no
/// `BATON_*` of the caller's shell), in `dir` (so no `.env` is read).
fn command(binary: &Path, dir: &Path, port: u16, config: &ServeConfig) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", &config.database_url)
        .env("BATON_BIND", format!("127.0.0.1:{port}"))
        .env("BATON_WORKERS", config.workers.to_string())
        .env("BATON_DB_POOL_SIZE", config.pool.to_string())
        // The benchmark is one client sending thousands of requests: not what the limit is for.
        .env("BATON_RATE_LIMIT_PER_MINUTE", "10000000")
        // No schedules here: the scheduler's polls would only add statements.
        .env("BATON_SCHEDULER_POLL_MS", "60000")
        // The log is a file: colour codes would only make it harder to read.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if config.fetch_allow_private {
        command.env("BATON_FETCH_ALLOW_PRIVATE", "true");
    }
    command
}

/// A port nobody listens on now (the child binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_ready(served: &mut Served, client: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    let url = format!("{}/readyz", served.base_url);
    loop {
        served.check_alive()?;
        let ready = client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success());
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "baton serve did not answer GET /readyz within {READY_WITHIN:?}; the end of its \
                 log:\n{}",
                served.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
