//! Child workflows: a task of type `workflow` starts a workflow of its own (`input.tasks`, given
//! inline, with `input.input` and `input.name` templated in the parent), waits for it durably,
//! and takes its output. The child is an ordinary workflow with a parent.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    Claim, DomainError, NewWorkflow, RetryDraft, TaskDraft, TaskError, UserId, WorkflowStatus,
};

/// A child task as written inside a `workflow` task's input (the body of a task of
/// `POST /api/workflows`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChildTask {
    key: Option<String>,
    title: Option<String>,
    #[serde(rename = "type")]
    task_type: String,
    input: Option<Value>,
    retry: Option<RetryDraft>,
    timeout_ms: Option<u64>,
    depends_on: Option<Vec<String>>,
    when: Option<String>,
    for_each: Option<String>,
    max_parallel: Option<u32>,
}

impl From<ChildTask> for TaskDraft {
    fn from(t: ChildTask) -> Self {
        TaskDraft {
            key: t.key,
            title: t.title,
            task_type: t.task_type,
            input: t.input,
            retry: t.retry,
            timeout_ms: t.timeout_ms,
            depends_on: t.depends_on,
            when: t.when,
            for_each: t.for_each,
            max_parallel: t.max_parallel,
        }
    }
}

/// The child's tasks of a `workflow` task's `input`, as drafts; errors under `input.tasks`.
fn drafts(input: &Value) -> Result<Vec<TaskDraft>, DomainError> {
    let tasks = match input.get("tasks") {
        Some(Value::Array(tasks)) if !tasks.is_empty() => tasks,
        Some(Value::Array(_)) => {
            return Err(DomainError::invalid(
                "input.tasks",
                "must list at least one task",
            ));
        }
        Some(_) => {
            return Err(DomainError::invalid(
                "input.tasks",
                "must be an array of tasks",
            ));
        }
        None => return Err(DomainError::invalid("input.tasks", "is required")),
    };
    tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            ChildTask::deserialize(task)
                .map(TaskDraft::from)
                .map_err(|e| DomainError::invalid(format!("input.tasks[{i}]"), e.to_string()))
        })
        .collect()
}

/// Checks a `workflow` task's input: `name` (a string, templated), `input` (any JSON,
/// templated) and `tasks`, a workflow's tasks as `POST /api/workflows` takes them.
pub(crate) fn check_input(input: &Value) -> Result<(), DomainError> {
    let mut problems = Vec::new();
    if let Some(name) = input.get("name").filter(|n| !n.is_null())
        && !name.is_string()
    {
        problems.push(crate::FieldError::new("input.name", "must be a string"));
    }
    if let Some(Value::Object(map)) = Some(input)
        && let Some(unknown) = map
            .keys()
            .find(|k| !["name", "input", "tasks"].contains(&k.as_str()))
    {
        problems.push(crate::FieldError::new(
            format!("input.{unknown}"),
            "is not a field of a workflow task (name, input, tasks)",
        ));
    }
    match drafts(input) {
        Ok(drafts) => {
            if let Err(DomainError::Invalid(fields)) =
                NewWorkflow::new(UserId::LOCAL_ADMIN, "child".into(), None, drafts)
            {
                problems.extend(fields.into_iter().map(|f| f.under("input")));
            }
        }
        Err(DomainError::Invalid(fields)) => problems.extend(fields),
        Err(other) => return Err(other),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(problems))
    }
}

impl NewWorkflow {
    /// The child workflow the claimed `workflow` task starts, named `name` with `input` (its
    /// `input.name` and `input.input`, rendered), owned by the task's owner.
    pub fn child(claim: &Claim, name: Option<String>, input: Value) -> Result<Self, TaskError> {
        let invalid = |e: DomainError| {
            TaskError::permanent("invalid_input", format!("the child workflow: {e}"))
        };
        let task = &claim.task;
        let name = name
            .or_else(|| task.key.clone())
            .unwrap_or_else(|| format!("{} (child)", claim.workflow_name));
        let workflow = NewWorkflow::new(task.owner_id, name, Some(input), {
            drafts(&task.input).map_err(invalid)?
        })
        .map_err(invalid)?;
        Ok(workflow.with_parent(task.workflow_id, task.id))
    }
}

/// The child's tasks of a `workflow` task's `input`, checked (as creating the child would
/// check them).
pub fn child_tasks(input: &Value) -> Result<Vec<crate::NewTask>, DomainError> {
    let workflow = NewWorkflow::new(UserId::LOCAL_ADMIN, "child".into(), None, drafts(input)?)?;
    Ok(workflow.tasks().to_vec())
}

/// How a child workflow ended, as its parent task joins it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildOutcome {
    pub status: WorkflowStatus,
    pub output: Option<Value>,
    pub error: Option<Value>,
}
