//! A throwaway Postgres cluster of one test's own, for tests that stop and start the database
//! (the machine's shared server must never be stopped). `initdb` into a temporary directory,
//! trust authentication, a free loopback port, the socket inside the directory, `fsync` off;
//! stopped and removed on drop. Postgres refuses to run as root: as root, every command runs
//! as the `postgres` OS user (through `runuser`), in a directory that user owns.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// Where Debian's packages put the server's programs, newest first.
const BIN_DIRS: [&str; 3] = [
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

pub struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// `postgres://postgres@127.0.0.1:<port>/baton`
    pub url: String,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PrivatePostgres {
    /// A new cluster, started, with an empty database `baton`.
    pub fn start() -> PrivatePostgres {
        let bin = BIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|dir| dir.join("initdb").exists())
            .expect("Postgres's server programs (initdb, pg_ctl) are installed");
        let dir = tempfile::Builder::new()
            .prefix("baton-pg-")
            .tempdir()
            .expect("a directory for the cluster");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "give the cluster's directory to postgres");
        }
        let port = free_port();
        let cluster = PrivatePostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/baton"),
            dir,
            bin,
            port,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n",
            cluster.dir.path().display()
        );
        let conf_path = Path::new(&data).join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).expect("write postgresql.conf");
        cluster.start_again();
        cluster.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "baton",
            ],
        );
        cluster
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of the server's programs (as `postgres` when we are root), failing the test
    /// unless it succeeds.
    fn run(&self, program: &str, args: &[&str]) {
        let status = self
            .command(program, args)
            .status()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(status.success(), "{program} {args:?} failed: {status}");
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if std::env::var_os("TEST_LOG").is_none() {
            command.stderr(Stdio::null());
        }
        command
    }

    /// Starts the cluster (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
        );
    }

    /// Stops the cluster: `fast` (clients disconnected, a clean shutdown) or, with
    /// `immediate`, as a crash would.
    pub fn stop(&self, immediate: bool) {
        let data = self.data_dir();
        let mode = if immediate { "immediate" } else { "fast" };
        self.run(
            "pg_ctl",
            &["-D", &data, "-m", mode, "-w", "-t", "60", "stop"],
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the cluster accepts connections now.
    pub fn is_up(&self) -> bool {
        std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(200),
        )
        .is_ok()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .status();
    }
}
