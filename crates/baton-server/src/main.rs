use std::process::ExitCode;

use baton_server::api::ApiDoc;
use baton_server::{Application, Config, cli, startup, telemetry};
use clap::{Parser, Subcommand};
use utoipa::OpenApi;

/// Baton: a durable workflow engine for LLM pipelines.
#[derive(Parser)]
#[command(name = "baton", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create the database if needed, run pending migrations, and exit.
    Migrate,
    /// Print the OpenAPI document of the HTTP API (as served at /api/openapi.json) and exit.
    Openapi,
    /// Client commands: talk to a running server (BATON_URL, BATON_TOKEN).
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    let command = match command {
        Command::Openapi => return print_openapi(),
        // A client needs no server configuration (no database, no secrets).
        Command::Client(command) => return cli::run(command).await,
        command => command,
    };
    // A missing .env is fine; a broken one is reported.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: cannot read .env: {err}");
        return ExitCode::FAILURE;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match telemetry::init(config.log_format, config.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: cannot start the trace exporter: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Serve => serve(config).await,
        Command::Migrate => startup::prepare_database(&config).await,
        // Handled above, before the configuration was read.
        Command::Openapi | Command::Client(_) => Ok(()),
    };
    // The last batch of spans goes out from the exporter's thread: wait for it off the runtime.
    if let Err(err) = tokio::task::spawn_blocking(move || telemetry.shutdown()).await {
        eprintln!("warning: the trace exporter did not stop cleanly: {err}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = ?err, "baton stopped");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The document needs no configuration: it is the same for every instance.
fn print_openapi() -> ExitCode {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot render the OpenAPI document: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let app = Application::build(config).await?;
    tracing::info!(address = %bind, port = app.port(), "baton is listening");
    app.run_until_signalled().await
}
