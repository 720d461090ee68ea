//! A workflow's concurrency key: a template (or plain text) rendered when the workflow starts,
//! before any of its tasks ran, so it may use only the workflow's input.

use baton_domain::FieldError;

use super::template::Templates;
use crate::templates::is_template;

/// Every problem of the key template `source`, as errors on `concurrency.key`: it parses, and
/// each name it uses is `input` (or a function every template has).
pub(crate) fn concurrency_key(source: &str) -> Vec<FieldError> {
    if !is_template(source) {
        return Vec::new();
    }
    let templates = Templates::new();
    let references = match templates.references(source) {
        Ok(references) => references,
        Err(message) => {
            return vec![FieldError::new("concurrency.key", message).with_expression(source)];
        }
    };
    let mut references: Vec<String> = references.into_iter().collect();
    references.sort();
    references
        .into_iter()
        .filter(|reference| {
            let first = reference.split('.').next().unwrap_or_default();
            first != "input" && !templates.is_global(first)
        })
        .map(|reference| {
            let message = format!(
                "a concurrency key can use only the workflow's input (`input.…`): it is \
                 rendered when the workflow starts, before any task ran, and `{reference}` is \
                 not known then"
            );
            FieldError::new("concurrency.key", message).with_expression(reference)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_input_is_known_when_the_key_is_rendered() {
        assert!(concurrency_key("{{ input.tenant }}").is_empty());
        assert!(concurrency_key("tenant-{{ input.tenant | lower }}").is_empty());
        assert!(concurrency_key("plain text").is_empty());
        let found = concurrency_key("{{ steps.a.output }}-{{ workflow.id }}");
        let expressions: Vec<_> = found.iter().map(|f| f.expression.as_deref()).collect();
        assert_eq!(expressions, [Some("steps.a.output"), Some("workflow.id")]);
        assert!(found.iter().all(|f| f.field == "concurrency.key"));
        let found = concurrency_key("{{ secrets.TOKEN }}");
        assert_eq!(found.len(), 1, "{found:?}");
        let found = concurrency_key("{{ input.tenant ");
        assert!(found[0].message.contains("does not parse"), "{found:?}");
    }
}
