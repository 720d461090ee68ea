use serde_json::Value;

use crate::DomainError;

/// Deepest nesting accepted in any JSON a client sends.
pub const MAX_JSON_DEPTH: usize = 64;

/// Checks that a JSON value can be stored as is: no NUL character in any string or key (databases
/// reject them) and nesting no deeper than [`MAX_JSON_DEPTH`].
pub fn check_json(field: &str, value: &Value) -> Result<(), DomainError> {
    fn walk(value: &Value, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_JSON_DEPTH {
            return Err("is nested too deeply (at most 64 levels)");
        }
        match value {
            Value::String(s) if s.contains('\0') => Err("must not contain NUL characters"),
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, depth + 1)),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                if k.contains('\0') {
                    Err("must not contain NUL characters")
                } else {
                    walk(v, depth + 1)
                }
            }),
            _ => Ok(()),
        }
    }
    walk(value, 0).map_err(|message| DomainError::invalid(field, message))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_ordinary_json_with_quotes_and_emoji() {
        let value = json!({"a": ["'; DROP TABLE workflows; --", "🎉", {"\"k\"": 1}]});
        assert!(check_json("input", &value).is_ok());
    }

    #[test]
    fn rejects_nul_in_values_and_keys() {
        assert!(check_json("input", &json!({"a": "x\u{0}y"})).is_err());
        assert!(check_json("input", &json!({"a\u{0}": 1})).is_err());
        assert!(check_json("input", &json!([["\u{0}"]])).is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut value = json!(1);
        for _ in 0..=MAX_JSON_DEPTH {
            value = json!([value]);
        }
        let err = check_json("input", &value).unwrap_err();
        assert!(err.to_string().contains("input"));
    }
}
