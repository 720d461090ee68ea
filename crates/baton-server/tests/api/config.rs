//! The real binary refuses a bad configuration, naming the variable.

use std::process::Command;

fn run_baton(vars: &[(&str, &str)]) -> std::process::Output {
    let dir = std::env::temp_dir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        command.env(k, v);
    }
    command.output().expect("run baton")
}

#[test]
fn bad_values_stop_the_binary_naming_the_variable() {
    for (name, value) in [
        ("BATON_BIND", "not-an-address"),
        ("BATON_MAX_BODY_BYTES", "lots"),
        ("BATON_LOG_FORMAT", "xml"),
        ("DATABASE_URL", "mysql://root@localhost/baton"),
        ("BATON_DB_POOL_SIZE", "0"),
        ("BATON_HTTP_WORKERS", "-2"),
    ] {
        let output = run_baton(&[(name, value)]);
        assert!(!output.status.success(), "{name}={value} must stop baton");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(name), "the message names {name}: {stderr}");
    }
}

#[test]
fn unknown_subcommands_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("launch")
        .output()
        .expect("run baton");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("launch"));
}
