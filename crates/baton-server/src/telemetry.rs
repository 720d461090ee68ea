//! Logging: one subscriber for the process, pretty or JSON, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber (`RUST_LOG` filters; `info` by default).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    drop(result);
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays readable.
pub fn init_for_test() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(LogFormat::Pretty);
    }
}
