//! The one rule for what a step may keep of a third party's data (a fetched body, a model's
//! text, a jq result, an error message): it must be storable by every store, and readable back.
//!
//! - A NUL character (Postgres `jsonb` and `text` cannot hold one) is replaced by U+FFFD in
//!   strings and in object keys. The value is kept; only that character changes.
//! - A value nested deeper than [`MAX_JSON_DEPTH`] or larger than [`MAX_STORED_JSON_BYTES`]
//!   (as JSON) is refused with a permanent error: another attempt would get the same answer.
//! - An error message is cut to [`MAX_ERROR_MESSAGE_CHARS`].

use std::borrow::Cow;

use serde_json::Value;

use crate::{MAX_JSON_DEPTH, TaskError};

/// What a NUL character in kept third-party data becomes.
pub const NUL_REPLACEMENT: char = '\u{FFFD}';

/// The largest output (or document) a step keeps, measured as compact JSON.
pub const MAX_STORED_JSON_BYTES: usize = 16 * 1024 * 1024;

/// The longest error message a step keeps.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 4_000;

/// `text` with every NUL character replaced by [`NUL_REPLACEMENT`] (borrowed when it has none).
pub fn storable_text(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Replaces NUL characters in the strings and keys of `value`, in place.
pub fn replace_nul(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = storable_text(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                for (key, item) in entries {
                    map.insert(storable_text(&key).into_owned(), item);
                }
            }
            map.values_mut().for_each(replace_nul);
        }
        _ => {}
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Counts bytes written, giving up past the limit.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        if self.0 > MAX_STORED_JSON_BYTES {
            return Err(std::io::Error::other("too large"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as a step may keep it as its `what` (`output`, `document`): NULs replaced; too deep
/// or too large is a permanent `output_too_large` error.
pub fn storable(what: &str, mut value: Value) -> Result<Value, TaskError> {
    // Measured before the walk: no recursion over a value deeper than a store can read.
    if depth(&value) > MAX_JSON_DEPTH {
        return Err(TaskError::permanent(
            "output_too_large",
            format!("the task's {what} is nested more than {MAX_JSON_DEPTH} levels deep"),
        ));
    }
    replace_nul(&mut value);
    if serde_json::to_writer(Counter(0), &value).is_err() {
        return Err(TaskError::permanent(
            "output_too_large",
            format!("the task's {what} is larger than {MAX_STORED_JSON_BYTES} bytes as JSON"),
        ));
    }
    Ok(value)
}

/// `error` as a step may keep it: NULs replaced in its message, cut to
/// [`MAX_ERROR_MESSAGE_CHARS`].
pub fn storable_error(mut error: TaskError) -> TaskError {
    if let Cow::Owned(clean) = storable_text(&error.message) {
        error.message = clean;
    }
    if let Some((cut, _)) = error.message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        error.message.truncate(cut);
        error.message.push('…');
    }
    error
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character_in_values_and_keys() {
        let value = json!({"a\u{0}b": ["x\u{0}", {"k": "\u{0}\u{0}"}], "n": 1, "ok": "🎉"});
        let kept = storable("output", value).unwrap();
        assert_eq!(
            kept,
            json!({"a\u{FFFD}b": ["x\u{FFFD}", {"k": "\u{FFFD}\u{FFFD}"}], "n": 1, "ok": "🎉"})
        );
        assert!(crate::check_json("output", &kept).is_ok());
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(storable_text("plain"), Cow::Borrowed("plain")));
        assert_eq!(storable_text("a\0b"), "a\u{FFFD}b");
    }

    #[test]
    fn too_deep_or_too_large_is_permanent() {
        let mut deep = json!(1);
        for _ in 0..=MAX_JSON_DEPTH {
            deep = json!([deep]);
        }
        let err = storable("output", deep).unwrap_err();
        assert_eq!(err.kind, "output_too_large");
        assert!(!err.retryable);
        let large = json!({"s": "x".repeat(MAX_STORED_JSON_BYTES)});
        let err = storable("document", large).unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("document"), "{}", err.message);
        let fits = json!("x".repeat(MAX_STORED_JSON_BYTES - 2));
        assert!(storable("output", fits).is_ok());
    }

    #[test]
    fn error_messages_are_cleaned_and_cut() {
        let error = storable_error(TaskError::retryable("http", "bad\0body"));
        assert_eq!(error.message, "bad\u{FFFD}body");
        assert!(error.retryable);
        let long = storable_error(TaskError::permanent("http", "é".repeat(10_000)));
        assert_eq!(long.message.chars().count(), MAX_ERROR_MESSAGE_CHARS + 1);
    }
}
