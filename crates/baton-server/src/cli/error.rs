//! What can go wrong in a client command, and the exit codes the CLI answers with.

use std::process::ExitCode;

use serde_json::Value;

/// The workflow completed, or the command succeeded.
pub const EXIT_OK: u8 = 0;
/// The command failed: an API error, an unreachable server, a bad file or argument.
pub const EXIT_ERROR: u8 = 1;
/// Usage errors (clap's own code).
pub const EXIT_USAGE: u8 = 2;
/// The followed workflow failed.
pub const EXIT_FAILED: u8 = 3;
/// The followed workflow was cancelled.
pub const EXIT_CANCELLED: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API answered an error (`{"error", "code", "details"?}`).
    #[error("{code}: {message}{}", fields(details.as_ref()))]
    Api {
        status: u16,
        code: String,
        message: String,
        details: Option<Value>,
    },
    /// The server could not be reached (or stopped answering).
    #[error("cannot reach Baton at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// A file or argument the user gave is not usable.
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// Whether following a workflow should try again (the server restarting, a proxy hiccup).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Api { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(EXIT_ERROR)
    }
}

/// `details.fields` of a 422, one per line: `  tasks[0].input.url: is required`.
fn fields(details: Option<&Value>) -> String {
    let Some(list) = details
        .and_then(|d| d.get("fields"))
        .and_then(Value::as_array)
    else {
        return String::new();
    };
    list.iter()
        .map(|f| {
            let name = f.get("field").and_then(Value::as_str).unwrap_or("?");
            let message = f.get("message").and_then(Value::as_str).unwrap_or("");
            match f.get("expression").and_then(Value::as_str) {
                Some(expr) => format!("\n  {name}: {message} (in `{expr}`)"),
                None => format!("\n  {name}: {message}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn validation_errors_list_every_field() {
        let err = CliError::Api {
            status: 422,
            code: "VALIDATION_ERROR".into(),
            message: "the workflow is invalid".into(),
            details: Some(json!({"fields": [
                {"field": "tasks[0].input.url", "message": "is required"},
                {"field": "tasks[1].input.jq", "message": "unknown step", "expression": "steps.x"}
            ]})),
        };
        assert_eq!(
            err.to_string(),
            "VALIDATION_ERROR: the workflow is invalid\n  tasks[0].input.url: is required\n  \
             tasks[1].input.jq: unknown step (in `steps.x`)"
        );
    }
}
