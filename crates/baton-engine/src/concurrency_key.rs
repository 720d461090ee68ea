//! Rendering a workflow's concurrency key when it starts: its template over the workflow's
//! input (checked at creation to use nothing else), strictly, to a key of 1 to 200
//! characters.

use baton_domain::{Concurrency, ConcurrencyKey, DomainError};
use serde_json::{Value, json};

use crate::templates;

/// The key `concurrency` renders to for `input`. `Invalid` on `concurrency.key` when it does
/// not render (a reference to nothing), renders to something that is not text, a number or a
/// boolean, or to an empty or too long key.
pub(crate) fn render(
    concurrency: &Concurrency,
    input: &Value,
) -> Result<ConcurrencyKey, DomainError> {
    let template = Value::String(concurrency.key.clone());
    let rendered = templates::render(&template, &json!({ "input": input })).map_err(|err| {
        DomainError::invalid(
            "concurrency.key",
            err.message
                .replacen("template error in input", "the key does not render", 1),
        )
    })?;
    let text = match rendered {
        Value::String(text) => text,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => {
            let what = match other {
                Value::Null => "null",
                Value::Array(_) => "an array",
                _ => "an object",
            };
            return Err(DomainError::invalid(
                "concurrency.key",
                format!("renders to {what}; a key is text"),
            ));
        }
    };
    ConcurrencyKey::new(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(template: &str, input: Value) -> Result<String, String> {
        let concurrency = Concurrency {
            key: template.into(),
            limit: 1,
        };
        render(&concurrency, &input)
            .map(|k| k.as_str().to_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn renders_over_the_input() {
        assert_eq!(
            key("{{ input.tenant }}", json!({"tenant": "acme"})),
            Ok("acme".into())
        );
        assert_eq!(key("t-{{ input.n }}", json!({"n": 3})), Ok("t-3".into()));
        assert_eq!(key("{{ input.n }}", json!({"n": 3})), Ok("3".into()));
        assert_eq!(key("plain", json!({})), Ok("plain".into()));
    }

    #[test]
    fn refuses_what_cannot_be_a_key() {
        let err = key("{{ input.tenant }}", json!({})).unwrap_err();
        assert!(
            err.contains("concurrency.key") && err.contains("input.tenant"),
            "{err}"
        );
        let err = key("{{ input.t }}", json!({"t": ""})).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = key("{{ input.t }}", json!({"t": "x".repeat(201)})).unwrap_err();
        assert!(err.contains("200"), "{err}");
        let err = key("{{ input.t }}", json!({"t": {"a": 1}})).unwrap_err();
        assert!(err.contains("an object"), "{err}");
    }
}
