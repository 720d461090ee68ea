//! Template problems as sentences: where a template does not parse or fails, and which
//! reference resolved to nothing and why.

use std::collections::HashSet;

use minijinja::ErrorKind;
use serde_json::Value;

use crate::position;

/// What minijinja says went wrong, with its place in `source` (`offset`: where the text
/// minijinja saw starts in `source`), without minijinja's debug rendering.
pub(crate) fn describe(err: &minijinja::Error, source: &str, offset: usize) -> String {
    let what = match (err.kind(), err.detail()) {
        (ErrorKind::SyntaxError, Some(detail)) => format!("syntax error: {detail}"),
        (_, Some(detail)) => detail.to_owned(),
        (kind, None) => kind.to_string(),
    };
    let hint = match err.detail() {
        Some(d) if d.contains("expected end of variable block") => ": is a `}}` missing?",
        Some(d) if d.contains("expected end of block") => ": is a `%}` or an `{% end… %}` missing?",
        _ => "",
    };
    let at_end = err
        .detail()
        .is_some_and(|d| d.starts_with("unexpected end of input"));
    match (err.range(), err.line()) {
        _ if at_end => format!(
            "{what} at the end of the template ({}){hint}",
            position::describe(source, source.len())
        ),
        (Some(range), _) => format!(
            "{what} at {}{hint}",
            position::describe(source, offset + range.start)
        ),
        (None, Some(line)) if offset == 0 => format!("{what} at line {line}{hint}"),
        _ => format!("{what}{hint}"),
    }
}

/// Why one of `references` (nested names such as `input.user.name`, as minijinja lists them)
/// resolves to nothing in `context`: the first that does not resolve, preferring one that
/// contains `near` (the text minijinja pointed at). `None` when they all resolve.
pub(crate) fn missing(references: &HashSet<String>, context: &Value, near: &str) -> Option<String> {
    let mut references: Vec<&String> = references.iter().collect();
    references.sort();
    let near = near.trim().trim_start_matches('.');
    let unresolved = references
        .iter()
        .filter_map(|r| resolve(context, r).err().map(|why| (r, why)));
    let mut first = None;
    for (reference, why) in unresolved {
        if !near.is_empty() && reference.contains(near) {
            return Some(why);
        }
        first.get_or_insert(why);
    }
    first
}

/// Follows `reference` through `context`, saying where it stops.
fn resolve(context: &Value, reference: &str) -> Result<(), String> {
    let parts: Vec<&str> = reference.split('.').collect();
    let mut current = context;
    for (i, part) in parts.iter().enumerate() {
        let so_far = parts[..i].join(".");
        let next = match current {
            Value::Object(map) => map.get(*part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|n| items.get(n)),
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Err(explain(reference, &so_far, part, current)),
        }
    }
    Ok(())
}

fn explain(reference: &str, parent: &str, name: &str, value: &Value) -> String {
    let why = match (parent, value) {
        ("", _) => format!("there is no `{name}`: templates see input, prev, steps and workflow"),
        ("steps", Value::Object(map)) => format!(
            "no earlier task has the key \"{name}\"{}",
            listing("keys of earlier tasks", map)
        ),
        (parent, Value::Object(map))
            if parent.starts_with("steps.") && !parent[6..].contains('.') =>
        {
            format!("`{parent}` has only {}", names(map))
        }
        ("input", Value::Object(map)) => format!(
            "the workflow's input has no field \"{name}\"{}",
            listing("it has", map)
        ),
        ("prev", Value::Object(map)) => format!(
            "the previous task's output has no field \"{name}\"{}",
            listing("it has", map)
        ),
        (parent, Value::Object(map)) => format!(
            "`{parent}` has no field \"{name}\"{}",
            listing("it has", map)
        ),
        ("prev", Value::Null) => {
            "the previous task's output is null (or there is no previous task)".to_owned()
        }
        (parent, Value::Array(items)) => format!(
            "`{parent}` is a list of {} item(s), so it has no field \"{name}\"",
            items.len()
        ),
        (parent, other) => format!(
            "`{parent}` is {}, so it has no field \"{name}\"",
            kind(other)
        ),
    };
    format!(
        "`{reference}` resolves to nothing: {why}; write `{{{{ {reference} | default(null) }}}}` \
         if the value is optional"
    )
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn names(map: &serde_json::Map<String, Value>) -> String {
    let names: Vec<&str> = map.keys().map(String::as_str).collect();
    names.join(" and ")
}

/// ` (it has: a, b, c)`, at most ten names; nothing for an empty object.
fn listing(what: &str, map: &serde_json::Map<String, Value>) -> String {
    if map.is_empty() {
        return match what {
            "it has" => " (it is empty)".to_owned(),
            _ => " (no earlier task has a key)".to_owned(),
        };
    }
    let mut names: Vec<&str> = map.keys().map(String::as_str).take(10).collect();
    if map.len() > 10 {
        names.push("…");
    }
    format!(" ({what}: {})", names.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refs(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn context() -> Value {
        json!({
            "input": {"city": "Lyon", "n": 1},
            "prev": {"a": null, "list": [1]},
            "steps": {"get": {"output": {"x": 1}, "status": "completed"}},
            "workflow": {"id": "w", "name": "n"},
        })
    }

    #[test]
    fn a_missing_input_field_is_named_with_what_there_is() {
        let why = missing(&refs(&["input.qq"]), &context(), "").unwrap();
        assert!(why.starts_with("`input.qq` resolves to nothing"), "{why}");
        assert!(why.contains("no field \"qq\" (it has: city, n)"), "{why}");
        assert!(why.contains("{{ input.qq | default(null) }}"), "{why}");
    }

    #[test]
    fn attributes_of_null_numbers_and_lists() {
        let why = missing(&refs(&["prev.a.b"]), &context(), "").unwrap();
        assert!(
            why.contains("`prev.a` is null, so it has no field \"b\""),
            "{why}"
        );
        let why = missing(&refs(&["input.n.x"]), &context(), "").unwrap();
        assert!(why.contains("`input.n` is a number"), "{why}");
        let why = missing(&refs(&["prev.list.x"]), &context(), "").unwrap();
        assert!(why.contains("is a list of 1 item(s)"), "{why}");
    }

    #[test]
    fn steps_and_their_fields() {
        let why = missing(&refs(&["steps.gte.output"]), &context(), "").unwrap();
        assert!(
            why.contains("no earlier task has the key \"gte\" (keys of earlier tasks: get)"),
            "{why}"
        );
        let why = missing(&refs(&["steps.get.outptu"]), &context(), "").unwrap();
        assert!(
            why.contains("`steps.get` has only output and status"),
            "{why}"
        );
    }

    #[test]
    fn the_reference_pointed_at_is_preferred_and_resolving_ones_are_not_blamed() {
        let both = refs(&["input.aa", "input.zz", "input.city"]);
        let why = missing(&both, &context(), "input.zz").unwrap();
        assert!(why.starts_with("`input.zz`"), "{why}");
        assert!(missing(&refs(&["input.city", "prev.list.0"]), &context(), "").is_none());
    }
}
