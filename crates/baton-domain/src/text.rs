use std::fmt;

use serde::Serialize;

use crate::DomainError;

fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), DomainError> {
    let chars = value.chars().count();
    if value.contains('\0') {
        return Err(DomainError::invalid(
            field,
            "must not contain NUL characters",
        ));
    }
    if chars < min || value.trim().chars().count() < min {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if chars > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A workflow's name: 1 to 200 characters, not only whitespace, no NUL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WorkflowName(String);

impl WorkflowName {
    pub const MAX_CHARS: usize = 200;

    pub fn new(value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        check_text("name", &value, 1, Self::MAX_CHARS)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A task's title: up to 200 characters, no NUL; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub const MAX_CHARS: usize = 200;

    pub fn new(value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        check_text("title", &value, 0, Self::MAX_CHARS)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A task's key, unique within its workflow and usable in templates as `steps.<key>`:
/// an ASCII letter or `_`, then letters, digits or `_`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TaskKey(String);

impl TaskKey {
    pub const MAX_CHARS: usize = 64;

    pub fn new(value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        let mut chars = value.chars();
        let valid_start = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_start || !valid_rest || value.len() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "key",
                "must start with a letter or '_' and hold only letters, digits and '_' (at most 64)",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_name_rules() {
        assert!(WorkflowName::new("nightly digest").is_ok());
        assert!(WorkflowName::new("'; DROP TABLE workflows; -- 🎉").is_ok());
        assert!(WorkflowName::new("").is_err());
        assert!(WorkflowName::new("   ").is_err());
        assert!(WorkflowName::new("a\0b").is_err());
        assert!(
            WorkflowName::new("é".repeat(200)).is_ok(),
            "counts characters, not bytes"
        );
        assert!(WorkflowName::new("x".repeat(201)).is_err());
    }

    #[test]
    fn task_key_rules() {
        for ok in ["a", "fetch_1", "_x", "A9"] {
            assert!(TaskKey::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "ünï", "a.b"] {
            assert!(TaskKey::new(bad).is_err(), "{bad}");
        }
        assert!(TaskKey::new("k".repeat(65)).is_err());
    }

    #[test]
    fn title_may_be_empty() {
        assert_eq!(
            TaskTitle::new("").map(|t| t.into_inner()),
            Ok(String::new())
        );
        assert!(TaskTitle::new("t".repeat(201)).is_err());
    }
}
