use serde::Serialize;

/// One rule broken by one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the problem is, as a dotted path (`tasks[2].input.url`).
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
    /// The expression the problem is in, as written (a template reference such as
    /// `steps.fetch.output`, a template, or a jq program), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            expression: None,
        }
    }

    /// The same error, naming the expression it is about.
    pub fn with_expression(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }

    /// The same error, nested under `prefix` (`tasks[2]` + `input.url`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// A rule of the domain was broken. Adapters never produce this; it comes from checking input
/// and from state transitions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// The input is invalid; every broken rule is listed.
    #[error("invalid input: {}", summary(.0))]
    Invalid(Vec<FieldError>),
    /// The entity is not in a state that allows the change.
    #[error("{entity} is {from} and cannot become {to}")]
    IllegalTransition {
        entity: &'static str,
        from: &'static str,
        to: &'static str,
    },
    /// The change is valid but the resource's state forbids it now (editing a started
    /// workflow); the message says why, for a person.
    #[error("{0}")]
    Conflict(String),
    /// The caller's expected version is not the current one.
    #[error("version {expected} is not the current version {current}")]
    VersionMismatch { expected: i32, current: i32 },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// `VersionMismatch` when the caller expects a version other than `current`.
    pub fn check_version(expected: Option<i32>, current: i32) -> Result<(), Self> {
        match expected {
            Some(expected) if expected != current => {
                Err(Self::VersionMismatch { expected, current })
            }
            _ => Ok(()),
        }
    }

    /// Prefix every field of an `Invalid` error (used when checking nested input).
    pub fn under(self, prefix: &str) -> Self {
        match self {
            Self::Invalid(errors) => {
                Self::Invalid(errors.into_iter().map(|e| e.under(prefix)).collect())
            }
            other => other,
        }
    }
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects field errors while checking a whole input, so a client learns every problem at once.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn check<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.push(err);
                None
            }
        }
    }

    pub(crate) fn push(&mut self, err: DomainError) {
        match err {
            DomainError::Invalid(errors) => self.0.extend(errors),
            other => self.0.push(FieldError::new("", other.to_string())),
        }
    }

    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub(crate) fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}
