//! `{{ }}` templates in task inputs, rendered with minijinja just before a task runs.
//!
//! The context is `input` (the workflow's input), `prev` (the previous task's output),
//! `steps.<key>` (`.output`, `.status`), `workflow` (`id`, `name`), and in an element of a
//! fan-out `item` and `index`. A string that is exactly
//! one `{{ expr }}` keeps the JSON type of the value; any other string renders to a string.
//!
//! Rendering is strict: a reference that resolves to nothing fails the task (non-retryable),
//! naming the reference and what was missing, instead of becoming `null` or an empty string.
//! `{{ x | default(null) }}` accepts a missing value. `check` finds what can be found before a
//! task runs (syntax, unknown steps, `prev` in the first task, unknown names).

use std::collections::HashSet;

use minijinja::value::ValueKind;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value, json};

use baton_domain::{SecretName, StepResult, TaskError, TaskStatus};

use crate::position;
use crate::template_errors as errors;

/// What templates (and jq programs) see.
#[derive(Debug, Clone, Default)]
pub struct StepContext {
    pub workflow_id: String,
    pub workflow_name: String,
    pub input: Value,
    pub prev: Value,
    pub steps: Map<String, Value>,
    /// The element a fanned-out task runs for, and its index.
    pub item: Option<Value>,
    pub index: Option<i32>,
}

impl StepContext {
    pub fn new(workflow_id: String, workflow_name: String, input: Value) -> Self {
        Self {
            workflow_id,
            workflow_name,
            input,
            prev: Value::Null,
            steps: Map::new(),
            item: None,
            index: None,
        }
    }

    /// Records a finished step (the next step's `prev`, and `steps.<key>` when it has a key).
    pub fn push(&mut self, step: &StepResult) {
        let output = step.output.clone().unwrap_or(Value::Null);
        if let Some(key) = &step.key {
            self.steps.insert(
                key.clone(),
                json!({"output": output, "status": step.status.as_str()}),
            );
        }
        self.prev = output;
    }

    /// Records a done step under its key, leaving `prev` as it is.
    pub fn record(&mut self, step: &StepResult) {
        if let Some(key) = &step.key {
            let output = step.output.clone().unwrap_or(Value::Null);
            self.steps.insert(
                key.clone(),
                json!({"output": output, "status": step.status.as_str()}),
            );
        }
    }

    /// The output of the step recorded under `key` (null when none is).
    pub fn output_of(&self, key: &str) -> Value {
        self.steps
            .get(key)
            .and_then(|s| s.get("output"))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The status of the step recorded under `key`.
    pub fn status_of(&self, key: &str) -> Option<TaskStatus> {
        self.steps
            .get(key)
            .and_then(|s| s.get("status"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    pub fn to_json(&self) -> Value {
        let mut context = json!({
            "input": self.input,
            "prev": self.prev,
            "steps": self.steps,
            "workflow": {"id": self.workflow_id, "name": self.workflow_name},
        });
        if let Some(index) = self.index {
            context["item"] = self.item.clone().unwrap_or(Value::Null);
            context["index"] = Value::from(index);
        }
        context
    }
}

/// The environment every template is parsed and rendered with: strict about undefined values,
/// and knowing `null` (as JSON writes it) besides minijinja's `none`.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_global("null", minijinja::Value::from(()));
    env
}

/// Whether `s` is rendered as a template when its task runs.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Whether any string in `value` is a template: when none is, rendering gives `value` itself.
pub(crate) fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// The expression of a string that is exactly one `{{ expr }}`.
pub(crate) fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// The names `source` (a string holding a template) uses from outside
/// (`steps.fetch.output`), or why it does not parse, with the offset of what was parsed.
pub(crate) fn undeclared(
    env: &Environment<'static>,
    source: &str,
) -> Result<HashSet<String>, (minijinja::Error, usize)> {
    match sole_expression(source) {
        Some(expr) => {
            let offset = position::offset_in(source, expr).unwrap_or(0);
            let compiled = env.compile_expression(expr).map_err(|e| (e, offset))?;
            Ok(compiled.undeclared_variables(true))
        }
        None => {
            let template = env.template_from_str(source).map_err(|e| (e, 0))?;
            Ok(template.undeclared_variables(true))
        }
    }
}

/// The secrets the templates in `value` name (`secrets.NAME`), each once. A template that
/// does not parse names none here: rendering it reports why.
pub fn secret_names(value: &Value) -> Vec<SecretName> {
    let mut sources = Vec::new();
    template_strings(value, &mut sources);
    let sources: Vec<&str> = sources
        .into_iter()
        .filter(|s| s.contains("secrets"))
        .collect();
    if sources.is_empty() {
        return Vec::new();
    }
    let env = environment();
    let mut names: Vec<SecretName> = sources
        .into_iter()
        .filter_map(|source| undeclared(&env, source).ok())
        .flatten()
        .filter_map(|reference| {
            let rest = reference.strip_prefix("secrets.")?;
            SecretName::new(rest.split('.').next()?).ok()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn template_strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) if is_template(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| template_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| template_strings(v, out)),
        _ => {}
    }
}

/// Renders every string in `value` against `context`. A reference that resolves to nothing
/// (`{{ input.missing }}`, an attribute of null) fails, naming it; `| default(…)` is the way to
/// accept a missing value.
pub fn render(value: &Value, context: &Value) -> Result<Value, TaskError> {
    let env = environment();
    let ctx = minijinja::Value::from_serialize(context);
    let renderer = Renderer {
        env: &env,
        ctx: &ctx,
        context,
    };
    renderer.value(value).map_err(|failure| {
        TaskError::permanent(
            "template",
            format!("template error in input{}: {}", failure.at, failure.message),
        )
    })
}

/// Why a string failed to render, and where it is (`.url`, `.messages[1].content`).
struct Failure {
    at: String,
    message: String,
}

impl Failure {
    fn under(mut self, segment: String) -> Self {
        self.at.insert_str(0, &segment);
        self
    }
}

struct Renderer<'a> {
    env: &'a Environment<'static>,
    ctx: &'a minijinja::Value,
    context: &'a Value,
}

impl Renderer<'_> {
    fn value(&self, value: &Value) -> Result<Value, Failure> {
        match value {
            Value::String(s) if is_template(s) => self.string(s).map_err(|message| Failure {
                at: String::new(),
                message,
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.value(v).map_err(|f| f.under(format!("[{i}]"))))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    let rendered = self.value(v).map_err(|f| f.under(format!(".{k}")))?;
                    Ok((k.clone(), rendered))
                })
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    fn string(&self, s: &str) -> Result<Value, String> {
        if let Some(expr) = sole_expression(s) {
            let offset = position::offset_in(s, expr).unwrap_or(0);
            let compiled = self.env.compile_expression(expr).map_err(|e| {
                format!(
                    "the template does not parse: {}",
                    errors::describe(&e, s, offset)
                )
            })?;
            let refs = || compiled.undeclared_variables(true);
            let result = compiled
                .eval(self.ctx)
                .map_err(|e| self.failed(&e, s, offset, refs()))?;
            if has_undefined(&result) {
                return Err(self.nothing(refs()));
            }
            return serde_json::to_value(&result)
                .map_err(|e| format!("the template's value is not JSON: {e}"));
        }
        let template = self.env.template_from_str(s).map_err(|e| {
            format!(
                "the template does not parse: {}",
                errors::describe(&e, s, 0)
            )
        })?;
        template
            .render(self.ctx)
            .map(Value::String)
            .map_err(|e| self.failed(&e, s, 0, template.undeclared_variables(true)))
    }

    /// A render error as a sentence; an undefined value names the reference behind it.
    fn failed(
        &self,
        err: &minijinja::Error,
        source: &str,
        offset: usize,
        refs: HashSet<String>,
    ) -> String {
        if err.kind() == ErrorKind::UndefinedError {
            let near = err
                .range()
                .and_then(|r| source.get(offset + r.start..offset + r.end))
                .unwrap_or("");
            if let Some(why) = errors::missing(&refs, self.context, near) {
                return why;
            }
        }
        format!(
            "the template failed: {}",
            errors::describe(err, source, offset)
        )
    }

    fn nothing(&self, refs: HashSet<String>) -> String {
        errors::missing(&refs, self.context, "")
            .unwrap_or_else(|| "the template's value is undefined".to_owned())
    }
}

/// Whether an undefined value is in `value` (itself, or inside a list or map it built).
fn has_undefined(value: &minijinja::Value) -> bool {
    if value.is_undefined() {
        return true;
    }
    match value.kind() {
        ValueKind::Seq | ValueKind::Map => value.try_iter().is_ok_and(|keys| {
            keys.into_iter().any(|key| {
                has_undefined(&key)
                    || (value.kind() == ValueKind::Map
                        && value.get_item(&key).is_ok_and(|v| has_undefined(&v)))
            })
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use baton_domain::TaskStatus;

    use super::*;

    fn context() -> Value {
        let mut ctx = StepContext::new(
            "w1".into(),
            "digest".into(),
            json!({"city": "Lyon", "n": 3}),
        );
        ctx.push(&StepResult {
            position: 0,
            key: Some("weather".into()),
            status: TaskStatus::Completed,
            output: Some(json!({"temp": 21.5, "tags": ["sun"]})),
        });
        ctx.to_json()
    }

    #[test]
    fn has_template_finds_a_template_at_any_depth() {
        assert!(!has_template(
            &json!({"jq": ".", "n": [1, "plain", {"x": null}]})
        ));
        assert!(has_template(&json!({"a": [{"b": "x {{ prev }}"}]})));
        assert!(has_template(&json!(["{% if true %}y{% endif %}"])));
    }

    #[test]
    fn the_secrets_templates_name_are_found_once_each() {
        let input = json!({
            "url": "http://x/?k={{ secrets.B }}",
            "headers": {"a": "{{ secrets.A }}", "b": "Bearer {{ secrets.B | trim }}"},
            "plain": "secrets.C is not a template",
            "bad": "{{ secrets. }}"
        });
        let names: Vec<String> = secret_names(&input)
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        assert_eq!(names, ["A", "B"]);
        assert!(secret_names(&json!({"url": "{{ input.x }}"})).is_empty());
    }

    #[test]
    fn a_sole_expression_keeps_its_json_type() {
        let out = render(
            &json!({"n": "{{ input.n }}", "obj": "{{ prev }}", "t": "{{ steps.weather.output.temp }}"}),
            &context(),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"n": 3, "obj": {"temp": 21.5, "tags": ["sun"]}, "t": 21.5})
        );
    }

    #[test]
    fn mixed_text_renders_to_a_string() {
        let out = render(
            &json!([
                "Weather in {{ input.city }}: {{ prev.temp }}°",
                "{{ workflow.name }}!",
                7
            ]),
            &context(),
        )
        .unwrap();
        assert_eq!(out, json!(["Weather in Lyon: 21.5°", "digest!", 7]));
        assert_eq!(
            render(&json!("{{ steps.weather.status }}"), &context()).unwrap(),
            json!("completed")
        );
    }

    #[test]
    fn unknown_names_and_bad_syntax_fail_permanently() {
        let err = render(&json!("{{ steps.nope.output }}"), &context()).unwrap_err();
        assert!(!err.retryable);
        assert_eq!(err.kind, "template");
        let err = render(&json!("{{ input. }}"), &context()).unwrap_err();
        assert!(err.message.contains("template error"), "{}", err.message);
    }

    #[test]
    fn strings_without_templates_are_untouched() {
        let v = json!({"a": "plain } text {", "b": null});
        assert_eq!(render(&v, &context()).unwrap(), v);
    }

    #[test]
    fn a_missing_reference_fails_naming_it_and_where_it_is() {
        let err = render(&json!({"url": "{{ input.qq }}"}), &context()).unwrap_err();
        assert!(!err.retryable);
        assert_eq!(err.kind, "template");
        assert!(
            err.message
                .starts_with("template error in input.url: `input.qq` resolves to nothing"),
            "{}",
            err.message
        );
        assert!(err.message.contains("no field \"qq\""), "{}", err.message);
        let err = render(&json!({"d": ["x {{ input.qq }} y"]}), &context()).unwrap_err();
        assert!(
            err.message.contains("input.d[0]: `input.qq`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_attribute_of_null_fails_too() {
        let mut ctx = context();
        ctx["prev"] = json!({"a": null});
        for template in ["{{ prev.a.b }}", "text {{ prev.a.b }}", "{{ [prev.a.b] }}"] {
            let err = render(&json!(template), &ctx).unwrap_err();
            assert!(
                err.message
                    .contains("`prev.a.b` resolves to nothing: `prev.a` is null"),
                "{template}: {}",
                err.message
            );
        }
    }

    #[test]
    fn default_accepts_a_missing_value() {
        let out = render(
            &json!({"a": "{{ input.qq | default(null) }}", "b": "{{ input.qq | default(2) }}", "c": "x{{ input.qq | default('') }}"}),
            &context(),
        )
        .unwrap();
        assert_eq!(out, json!({"a": null, "b": 2, "c": "x"}));
        assert_eq!(
            render(&json!("{{ input.qq is defined }}"), &context()).unwrap(),
            json!(false)
        );
    }

    #[test]
    fn errors_are_sentences_with_positions_not_debug_output() {
        let err = render(&json!("a {{ input.city"), &context()).unwrap_err();
        assert!(
            err.message.contains("does not parse: syntax error")
                && err
                    .message
                    .contains("at the end of the template (line 1, column 16)")
                && err.message.contains("`}}` missing"),
            "{}",
            err.message
        );
        let err = render(&json!("{{ input.city | nofilter }}"), &context()).unwrap_err();
        assert!(
            err.message
                .contains("filter nofilter is unknown at line 1, column 17"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("<string>") && !err.message.contains("Error {"));
    }
}
