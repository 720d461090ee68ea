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

/// Nothing listens on port 1: a process that got as far as the database would fail differently.
const NO_DATABASE: &str = "postgres://postgres@127.0.0.1:1/baton";

#[test]
fn local_mode_refuses_to_bind_a_non_loopback_address() {
    let output = run_baton(&[
        ("BATON_BIND", "0.0.0.0:8080"),
        ("DATABASE_URL", NO_DATABASE),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Refused while reading the configuration: before the database, before binding.
    assert!(
        stderr.contains("BATON_JWT_SECRET"),
        "names the fix: {stderr}"
    );
    assert!(
        stderr.contains("BATON_BIND"),
        "names the variable: {stderr}"
    );
    assert!(stderr.contains("local mode"), "says why: {stderr}");
    assert!(
        !stderr.contains("database"),
        "stopped before the database: {stderr}"
    );

    // With a secret, the same address passes the configuration check (and then fails on the
    // unreachable database, not on the address).
    let output = run_baton(&[
        ("BATON_BIND", "0.0.0.0:8080"),
        ("DATABASE_URL", NO_DATABASE),
        (
            "BATON_JWT_SECRET",
            "a secret that is long enough, 32+ bytes",
        ),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("BATON_BIND"), "{stderr}");
}

#[test]
fn short_jwt_secrets_and_half_admin_accounts_are_refused() {
    let output = run_baton(&[
        ("BATON_JWT_SECRET", "shortsecret"),
        ("DATABASE_URL", NO_DATABASE),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BATON_JWT_SECRET"), "{stderr}");
    assert!(stderr.contains("32 bytes"), "{stderr}");
    assert!(
        !stderr.contains("shortsecret"),
        "the secret is not repeated: {stderr}"
    );

    let output = run_baton(&[
        ("BATON_ADMIN_EMAIL", "a@b.c"),
        ("DATABASE_URL", NO_DATABASE),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BATON_ADMIN_PASSWORD"));
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
