//! The JSON Schema a workflow definition may give its runs' input: checked to compile when the
//! definition is saved, and applied to every run's input (after the definition's defaults).

use serde_json::Value;

use crate::{DomainError, FieldError};

/// At most this many violations are reported for one input.
const MAX_VIOLATIONS: usize = 20;

/// Checks that `schema` is a JSON Schema that compiles (errors on `input_schema`).
pub fn check_input_schema(schema: &Value) -> Result<(), DomainError> {
    if !(schema.is_object() || schema.is_boolean()) {
        return Err(DomainError::invalid(
            "input_schema",
            "must be a JSON Schema (an object or a boolean)",
        ));
    }
    jsonschema::validator_for(schema).map(|_| ()).map_err(|e| {
        DomainError::invalid("input_schema", format!("is not a valid JSON Schema: {e}"))
    })
}

/// Checks `input` against `schema`: one error on `input` per violation, each naming the JSON
/// pointer of the offending value (`/` for the whole input).
pub fn check_input_against(schema: &Value, input: &Value) -> Result<(), DomainError> {
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        DomainError::invalid("input_schema", format!("is not a valid JSON Schema: {e}"))
    })?;
    let violations: Vec<FieldError> = validator
        .iter_errors(input)
        .take(MAX_VIOLATIONS)
        .map(|error| {
            let pointer = error.instance_path().to_string();
            let pointer = if pointer.is_empty() {
                "/".to_owned()
            } else {
                pointer
            };
            FieldError::new("input", format!("at {pointer}: {error}"))
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(violations))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schemas_must_compile() {
        assert!(check_input_schema(&json!({"type": "object"})).is_ok());
        assert!(check_input_schema(&json!(true)).is_ok());
        for bad in [json!({"type": "nope"}), json!(3), json!({"minimum": "x"})] {
            let err = check_input_schema(&bad).unwrap_err().to_string();
            assert!(err.contains("input_schema"), "{err}");
        }
    }

    #[test]
    fn violations_name_their_pointer() {
        let schema = json!({
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "maximum": 7}}
        });
        assert!(check_input_against(&schema, &json!({"city": "Lyon", "days": 3})).is_ok());
        let DomainError::Invalid(fields) =
            check_input_against(&schema, &json!({"days": 9})).unwrap_err()
        else {
            panic!("expected Invalid")
        };
        let messages: Vec<&str> = fields.iter().map(|f| f.message.as_str()).collect();
        assert!(fields.iter().all(|f| f.field == "input"), "{fields:?}");
        assert!(
            messages.iter().any(|m| m.starts_with("at /days:")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("at /:") && m.contains("city")),
            "{messages:?}"
        );
    }
}
