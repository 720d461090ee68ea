//! The checks of a workflow's tasks that need no run: every template parses and uses only
//! what its task will have, every jq program parses and compiles and takes only such paths
//! from its input, and an `llm` task has a model to call. Rules of the engine (they follow
//! from how templates and jq programs are run), applied by the use cases before anything is
//! stored; the shapes of inputs are the domain's (`NewTask::new`).
//!
//! What cannot be known before a run is checked when the task runs: fields of the workflow's
//! input (it is data, and may change until the workflow starts) and anything inside a
//! task's output; a reference that resolves to nothing then fails the task (`templates`).

mod jq;
mod key;
mod refs;
mod template;

use std::collections::HashMap;

use baton_domain::{Graph, GraphTask, SecretName, TaskId, TaskType};
use serde_json::Value;

pub(crate) use key::concurrency_key;

use crate::LLM_NOT_CONFIGURED;
use crate::templates::is_template;

/// A task as the checks see it, at its position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step<'a> {
    pub id: TaskId,
    pub key: Option<&'a str>,
    pub task_type: TaskType,
    pub input: &'a Value,
    pub depends_on: Option<&'a [String]>,
    pub when: Option<&'a str>,
    pub for_each: Option<&'a str>,
}

/// One problem of one task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub task: TaskId,
    pub position: usize,
    /// Within the task: `input.url`, `type`.
    pub field: String,
    pub expression: Option<String>,
    pub message: String,
}

/// A secret a task's template names, to be looked up among its owner's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SecretUse {
    pub task: TaskId,
    pub position: usize,
    pub field: String,
    pub expression: String,
    pub name: SecretName,
}

/// What the checks found: problems, and the secrets the templates name.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub problems: Vec<Problem>,
    pub secrets: Vec<SecretUse>,
}

/// A problem found in one expression (a reference, a template or a program).
struct Found {
    expression: Option<String>,
    message: String,
}

impl Found {
    fn new(expression: &str, message: impl Into<String>) -> Self {
        Self {
            expression: Some(expression.to_owned()),
            message: message.into(),
        }
    }
}

/// Every problem of `steps` (the tasks of one workflow, in order), task by task, and the
/// secrets they name.
pub(crate) fn check(steps: &[Step<'_>], llm_configured: bool) -> Checked {
    let templates = template::Templates::new();
    // A program used by many tasks is compiled once.
    let mut compiled: HashMap<&str, Result<(), String>> = HashMap::new();
    let mut problems = Vec::new();
    let mut secrets = Vec::new();
    let graph = graph(steps, &mut problems);
    let graph = graph.as_ref().filter(|g| g.is_explicit());
    for (position, step) in steps.iter().enumerate() {
        let scope = refs::Scope::new(steps, position, graph);
        let input_scope = match step.for_each {
            Some(_) => refs::Scope::new(steps, position, graph).per_element(),
            None => refs::Scope::new(steps, position, graph),
        };
        let problem = |field: &str, found: Found| Problem {
            task: step.id,
            position,
            field: field.to_owned(),
            expression: found.expression,
            message: found.message,
        };
        if step.task_type == TaskType::Llm && !llm_configured {
            problems.push(problem(
                "type",
                Found {
                    expression: None,
                    message: format!("an llm task cannot run: {LLM_NOT_CONFIGURED}"),
                },
            ));
        }
        let mut strings = Vec::new();
        if let Some(when) = step.when {
            strings.push(("when".to_owned(), when));
        }
        if let Some(for_each) = step.for_each {
            strings.push(("for_each".to_owned(), for_each));
        }
        if step.task_type == TaskType::Workflow {
            // Only its name and input are the parent's templates; its tasks are the child's.
            for key in ["name", "input"] {
                if let Some(value) = step.input.get(key) {
                    strings_in(value, format!("input.{key}"), &mut strings);
                }
            }
            let (child_problems, child_secrets) = child(step, position, llm_configured);
            problems.extend(child_problems);
            secrets.extend(child_secrets);
        } else {
            strings_in(step.input, "input".to_owned(), &mut strings);
        }
        for (field, text) in strings {
            let scope = if field.starts_with("input") {
                &input_scope
            } else {
                &scope
            };
            let mut named = Vec::new();
            let found = if is_template(text) {
                templates.check(text, scope, &mut named)
            } else if step.task_type == TaskType::Transform && field == "input.jq" {
                let result = compiled
                    .entry(text)
                    .or_insert_with(|| crate::jq::check(text).map_err(|e| e.message));
                jq::check(text, result, scope)
            } else {
                Vec::new()
            };
            problems.extend(found.into_iter().map(|f| problem(&field, f)));
            if step.task_type == TaskType::Workflow {
                // The rendered input is stored as the child's: a secret would be kept in clear.
                problems.extend(named.drain(..).map(|(expression, _)| {
                    problem(
                        &field,
                        Found::new(
                            &expression,
                            "a workflow task cannot pass a secret to its child (the child's \
                             input is stored as it is): name the secret in the child's own \
                             tasks, which run as the same user",
                        ),
                    )
                }));
            }
            secrets.extend(named.into_iter().map(|(expression, name)| SecretUse {
                task: step.id,
                position,
                field: field.clone(),
                expression,
                name,
            }));
        }
    }
    Checked { problems, secrets }
}

/// The problems and secrets of a `workflow` task's child tasks, checked as the workflow they
/// make, placed under the parent task (`input.tasks[j].…`).
fn child(step: &Step<'_>, position: usize, llm: bool) -> (Vec<Problem>, Vec<SecretUse>) {
    // Their shapes were checked with the task (`NewTask::new`): here, what only a check sees.
    let Ok(tasks) = baton_domain::child_tasks(step.input) else {
        return (Vec::new(), Vec::new());
    };
    let steps: Vec<Step<'_>> = tasks
        .iter()
        .map(|t| Step {
            id: t.id(),
            key: t.key().map(|k| k.as_str()),
            task_type: t.task_type(),
            input: t.input(),
            depends_on: t.depends_on(),
            when: t.when(),
            for_each: t.for_each(),
        })
        .collect();
    let checked = check(&steps, llm);
    let problems = checked
        .problems
        .into_iter()
        .map(|p| Problem {
            task: step.id,
            position,
            field: format!("input.tasks[{}].{}", p.position, p.field),
            expression: p.expression,
            message: p.message,
        })
        .collect();
    let secrets = checked
        .secrets
        .into_iter()
        .map(|u| SecretUse {
            task: step.id,
            position,
            field: format!("input.tasks[{}].{}", u.position, u.field),
            expression: u.expression,
            name: u.name,
        })
        .collect();
    (problems, secrets)
}

/// The graph of `steps`, or `None` with its problems added (each on `depends_on`).
fn graph(steps: &[Step<'_>], problems: &mut Vec<Problem>) -> Option<Graph> {
    let tasks: Vec<GraphTask<'_>> = steps
        .iter()
        .map(|s| GraphTask {
            id: s.id,
            key: s.key,
            depends_on: s.depends_on,
        })
        .collect();
    match Graph::build(&tasks) {
        Ok(graph) => Some(graph),
        Err(found) => {
            problems.extend(found.into_iter().map(|p| Problem {
                task: steps[p.position].id,
                position: p.position,
                field: "depends_on".to_owned(),
                expression: None,
                message: p.message,
            }));
            None
        }
    }
}

/// Every string in `value` with its path (`input.messages[1].content`).
fn strings_in<'v>(value: &'v Value, path: String, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings_in(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                strings_in(item, format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
