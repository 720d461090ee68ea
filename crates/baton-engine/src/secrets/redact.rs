//! Hiding secrets' values in what Baton keeps and shows: whatever a task answers (a target may
//! echo a header, a model may repeat its prompt), its errors and its streamed text carry
//! [`SECRET_MASK`] wherever a value of a secret it used would be.

use baton_domain::{SECRET_MASK, TaskError};
use serde_json::{Map, Value};

/// Replaces the values of a task's secrets. Empty when the task uses none (then it changes
/// nothing and costs nothing).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a value containing another is hidden whole.
    values: Vec<String>,
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), SECRET_MASK);
            }
        }
        out
    }

    /// Every string of `value`, object keys included.
    pub fn value(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.text(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.text(&k), self.value(v)))
                    .collect::<Map<_, _>>(),
            ),
            other => other,
        }
    }

    pub fn error(&self, mut error: TaskError) -> TaskError {
        if !self.is_empty() {
            error.message = self.text(&error.message);
        }
        error
    }

    /// Of streamed text still to come, how much of `pending`'s end to hold back: the longest
    /// end that starts a value, which the next piece may complete.
    pub fn hold_back(&self, pending: &str) -> usize {
        self.values
            .iter()
            .filter_map(|value| {
                (1..value.len().min(pending.len() + 1))
                    .rev()
                    .filter(|n| pending.is_char_boundary(pending.len() - n))
                    .find(|n| {
                        value
                            .as_bytes()
                            .starts_with(&pending.as_bytes()[pending.len() - n..])
                    })
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_hidden_everywhere_in_json() {
        let r = Redactor::new(["sk-123456".to_owned(), "sk-123".to_owned()]);
        let out = r.value(json!({"echo": "Bearer sk-123456", "sk-123": ["x sk-123 y", 5]}));
        assert_eq!(
            out,
            json!({"echo": "Bearer [secret]", "[secret]": ["x [secret] y", 5]})
        );
        let err = r.error(TaskError::permanent("http", "401: bad key sk-123456"));
        assert_eq!(err.message, "401: bad key [secret]");
    }

    #[test]
    fn nothing_changes_without_secrets() {
        let r = Redactor::default();
        assert!(r.is_empty());
        assert_eq!(r.value(json!({"a": "b"})), json!({"a": "b"}));
        assert_eq!(r.hold_back("anything"), 0);
    }

    #[test]
    fn streamed_text_holds_back_what_may_start_a_value() {
        let r = Redactor::new(["hunter22".to_owned()]);
        assert_eq!(r.hold_back("the key is hun"), 3);
        assert_eq!(r.hold_back("the key is h"), 1);
        assert_eq!(r.hold_back("the key is x"), 0);
        // A whole value is not held: it is hidden at once.
        assert_eq!(r.hold_back("hunter22"), 0);
        assert_eq!(r.hold_back("é"), 0);
    }
}
