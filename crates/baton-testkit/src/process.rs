//! The real `baton` binary as a child process, for crash and multi-instance tests.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder};

use crate::Api;

/// A `baton serve` child process on a port of its own; killed on drop.
pub struct BatonProcess {
    child: Child,
    pub address: String,
    pub port: u16,
    pub client: Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl BatonProcess {
    /// Starts `binary serve` against `database_url` with `vars` added, and waits until ready.
    pub async fn start(binary: &str, database_url: &str, vars: &[(&str, &str)]) -> BatonProcess {
        Self::launch(binary, database_url, vars, None, free_port()).await
    }

    /// As [`start`](Self::start), on `port` (e.g. the port of a process that was stopped, as a
    /// restarted server would be).
    pub async fn start_on_port(
        binary: &str,
        database_url: &str,
        vars: &[(&str, &str)],
        port: u16,
    ) -> BatonProcess {
        Self::launch(binary, database_url, vars, None, port).await
    }

    /// As [`start`](Self::start), writing everything the process logs (at `debug`, as JSON
    /// lines) to `log`, for tests that read what it logged.
    pub async fn start_logged(
        binary: &str,
        database_url: &str,
        vars: &[(&str, &str)],
        log: &std::path::Path,
    ) -> BatonProcess {
        Self::launch(binary, database_url, vars, Some(log), free_port()).await
    }

    async fn launch(
        binary: &str,
        database_url: &str,
        vars: &[(&str, &str)],
        log: Option<&std::path::Path>,
        port: u16,
    ) -> BatonProcess {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("BATON_BIND", format!("127.0.0.1:{port}"))
            .env("BATON_HTTP_WORKERS", "1")
            .env("BATON_LOG_FORMAT", "json")
            .env("BATON_FETCH_ALLOW_PRIVATE", "true")
            .env("BATON_RATE_LIMIT_PER_MINUTE", "10000000")
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").map_or("warn", |_| "info"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("create the log file");
                command.env("RUST_LOG", "debug").stderr(Stdio::from(file));
            }
            None if std::env::var_os("TEST_LOG").is_none() => {
                command.stderr(Stdio::null());
            }
            None => {}
        }
        for (k, v) in vars {
            command.env(k, v);
        }
        let child = command.spawn().expect("start baton");
        let process = BatonProcess {
            child,
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        };
        process.wait_ready().await;
        process
    }

    /// Polls `/readyz` for up to a minute (a debug build starting on a loaded machine).
    async fn wait_ready(&self) {
        for _ in 0..1200 {
            if let Ok(response) = self
                .client
                .get(format!("{}/readyz", self.address))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("baton at {} did not become ready", self.address);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Whether the process is still running (it has not exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The most resident memory the process has held so far (`VmHWM` of `/proc/<pid>/status`),
    /// in bytes.
    pub fn peak_resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read the process's status");
        let line = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .expect("a VmHWM line");
        // `VmHWM:     12345 kB`
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("VmHWM in kB");
        kib * 1024
    }

    /// CPU time the process has used so far (user + system), from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read the process's stat");
        // Fields after the command name (which may hold spaces) start at the state, field 3;
        // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
        let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_millis(ticks * 10)
    }

    /// SIGKILL: no shutdown, no cleanup — a crash.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill baton");
        let _ = self.child.wait();
    }

    /// SIGTERM (graceful stop), then waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("send SIGTERM");
        self.child.wait().expect("wait for baton")
    }
}

impl Api for BatonProcess {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }
}

impl Drop for BatonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
