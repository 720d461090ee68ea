//! Secrets: named values a user stores once and templates read as `{{ secrets.NAME }}`. Their
//! values are kept sealed (encrypted by the engine) and never shown: wherever a resolved value
//! would show one, Baton shows [`SECRET_MASK`].

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DomainError, UserId};

/// What Baton shows in place of a secret's value.
pub const SECRET_MASK: &str = "[secret]";

/// The longest name, in characters.
pub const MAX_SECRET_NAME_CHARS: usize = 64;
/// The shortest value, in characters: shorter ones could not be told apart from ordinary
/// text when they are hidden from what tasks answer.
pub const MIN_SECRET_VALUE_CHARS: usize = 4;
/// The longest value, in bytes.
pub const MAX_SECRET_VALUE_BYTES: usize = 16 * 1024;

/// A secret's name: a letter or `_`, then letters, digits and `_` (so that
/// `{{ secrets.NAME }}` reads it), at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

impl SecretName {
    pub fn new(raw: &str) -> Result<Self, DomainError> {
        let invalid = |message: &str| DomainError::invalid("name", message);
        let mut chars = raw.chars();
        match chars.next() {
            None => return Err(invalid("is required")),
            Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
                return Err(invalid("must start with a letter or `_`"));
            }
            Some(_) => {}
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                "may hold only letters, digits and `_` (templates read it as `secrets.NAME`)",
            ));
        }
        if raw.len() > MAX_SECRET_NAME_CHARS {
            return Err(invalid("must be at most 64 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret's value in the clear. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(raw: String) -> Result<Self, DomainError> {
        if raw.chars().count() < MIN_SECRET_VALUE_CHARS {
            return Err(DomainError::invalid(
                "value",
                "must be at least 4 characters",
            ));
        }
        if raw.len() > MAX_SECRET_VALUE_BYTES {
            return Err(DomainError::invalid("value", "must be at most 16384 bytes"));
        }
        Ok(Self(raw))
    }

    /// The value itself: for sending where it is meant to go, never for showing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({SECRET_MASK})")
    }
}

/// A value as stored: encrypted, with the nonce it was encrypted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A secret to store: its owner, name and sealed value.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: Uuid,
    pub owner_id: UserId,
    pub name: SecretName,
    pub sealed: SealedSecret,
}

/// What is shown of a secret: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub id: Uuid,
    pub owner_id: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers() {
        for ok in ["API_KEY", "_x", "a1", &"a".repeat(64)] {
            assert!(SecretName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "a b", "é", &"a".repeat(65)] {
            assert!(SecretName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_bounded_and_never_debug_printed() {
        assert!(SecretValue::new("abc".into()).is_err());
        assert!(SecretValue::new("x".repeat(MAX_SECRET_VALUE_BYTES + 1)).is_err());
        let value = SecretValue::new("hunter22".into()).unwrap();
        assert_eq!(value.expose(), "hunter22");
        assert!(!format!("{value:?}").contains("hunter22"));
    }
}
