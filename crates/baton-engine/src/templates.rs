//! `{{ }}` templates in task inputs, rendered with minijinja just before a task runs.
//!
//! The context is `input` (the workflow's input), `prev` (the previous task's output),
//! `steps.<key>` (`.output`, `.status`) and `workflow` (`id`, `name`). A string that is exactly
//! one `{{ expr }}` keeps the JSON type of the value; any other string renders to a string.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value, json};

use baton_domain::{StepResult, TaskError};

/// What templates (and jq programs) see.
#[derive(Debug, Clone, Default)]
pub struct StepContext {
    pub workflow_id: String,
    pub workflow_name: String,
    pub input: Value,
    pub prev: Value,
    pub steps: Map<String, Value>,
}

impl StepContext {
    pub fn new(workflow_id: String, workflow_name: String, input: Value) -> Self {
        Self {
            workflow_id,
            workflow_name,
            input,
            prev: Value::Null,
            steps: Map::new(),
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

    pub fn to_json(&self) -> Value {
        json!({
            "input": self.input,
            "prev": self.prev,
            "steps": self.steps,
            "workflow": {"id": self.workflow_id, "name": self.workflow_name},
        })
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

fn render_error(err: minijinja::Error) -> TaskError {
    let mut message = format!("template error: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    TaskError::permanent("template", message)
}

/// The expression of a string that is exactly one `{{ expr }}`.
fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Renders every string in `value` against `context`.
pub fn render(value: &Value, context: &Value) -> Result<Value, TaskError> {
    let env = environment();
    let ctx = minijinja::Value::from_serialize(context);
    render_with(&env, value, &ctx)
}

fn render_with(
    env: &Environment<'_>,
    value: &Value,
    ctx: &minijinja::Value,
) -> Result<Value, TaskError> {
    match value {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            if let Some(expr) = sole_expression(s) {
                let compiled = env.compile_expression(expr).map_err(render_error)?;
                let result = compiled.eval(ctx).map_err(render_error)?;
                return serde_json::to_value(&result).map_err(|e| {
                    TaskError::permanent("template", format!("template result is not JSON: {e}"))
                });
            }
            env.render_str(s, ctx)
                .map(Value::String)
                .map_err(render_error)
        }
        Value::Array(items) => items
            .iter()
            .map(|v| render_with(env, v, ctx))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_with(env, v, ctx)?)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
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
}
