//! Logging and tracing: one subscriber for the process, pretty or JSON, filtered by `RUST_LOG`;
//! with `BATON_OTLP_ENDPOINT`, the same spans are also exported over OTLP/HTTP (protobuf).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// The most one export (one batch POST to the collector) may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a shutdown waits for the last batch to go out.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The service name when `OTEL_SERVICE_NAME` does not give one.
const SERVICE_NAME: &str = "baton";

/// The trace exporter of the process, if any: shut it down to send the spans still buffered.
#[must_use = "call shutdown before exiting, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter (it blocks: the batch goes out on
    /// its own thread, so call it off the async runtime).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            eprintln!("warning: cannot flush the trace exporter: {err}");
        }
    }
}

/// Installs the global subscriber: logs to stderr filtered by `RUST_LOG` (`info` by default)
/// and, when an endpoint is given, spans at `info` and above exported to
/// `<otlp_endpoint>/v1/traces` whatever `RUST_LOG` keeps in the logs.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let provider = otlp_endpoint.map(tracer_provider).transpose()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Pretty => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(SERVICE_NAME))
            .with_filter(LevelFilter::INFO)
    });
    let result = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init();
    // A second init (tests start many apps in one process) keeps the first subscriber.
    drop(result);
    Ok(Telemetry { provider })
}

/// Batches spans and posts them as protobuf from a thread of its own (never on the runtime).
fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        // The SDK's default resource reads it.
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name(SERVICE_NAME).build()
    };
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays readable.
pub fn init_for_test() {
    if std::env::var_os("TEST_LOG").is_some() {
        // No exporter: nothing to shut down.
        drop(init(LogFormat::Pretty, None));
    }
}
