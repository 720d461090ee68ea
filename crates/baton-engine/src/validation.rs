//! The checks of [`check`](crate::check) as the use cases apply them, before anything is
//! stored: to a new workflow (every problem), and to an edit of a pending one (every problem
//! of the task being written, and what the edit breaks in the others: a task moved after one
//! that uses it, a key that is renamed or a task that is removed while another refers to it).
//! Problems that were there before an edit, in tasks it does not write, do not block it.
//!
//! The checks run on a thread of their own with a large stack, like jq programs: jaq's parser
//! recurses as deep as a program nests.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use baton_domain::ports::StoreError;
use baton_domain::{
    Change, Concurrency, DomainError, Edit, FieldError, NewTask, NewWorkflow, SecretName, Task,
    TaskId, UserId, Workflow,
};

use crate::check::{self, Problem, SecretUse, Step};
use crate::jq::STACK_BYTES;
use crate::secrets::{SECRETS_OFF, Secrets};

/// Every problem of a workflow about to be created, as `tasks[i].…` fields; `secrets` are its
/// owner's, where the secrets its templates name are looked up.
pub(crate) async fn new_workflow(
    workflow: &NewWorkflow,
    llm: bool,
    secrets: Option<&Secrets>,
) -> Result<(), StoreError> {
    let tasks = workflow.tasks().to_vec();
    let checked = isolated(move || {
        let steps: Vec<Step<'_>> = tasks.iter().map(new_step).collect();
        check::check(&steps, llm)
    })
    .await?;
    let mut fields: Vec<FieldError> = checked
        .problems
        .into_iter()
        .map(|p| field_error(p, None))
        .collect();
    fields.extend(missing_secrets(workflow.owner_id(), checked.secrets, secrets, None).await?);
    if let Some(concurrency) = workflow.concurrency() {
        fields.extend(check::concurrency_key(&concurrency.key));
    }
    finish(fields)
}

/// The problems of a workflow's concurrency key template (see `check::concurrency_key`).
pub(crate) fn concurrency(concurrency: &Concurrency) -> Result<(), StoreError> {
    finish(check::concurrency_key(&concurrency.key))
}

/// The problems an edit of `workflow`'s tasks would bring; renaming the workflow or changing
/// its input brings none (the input is data: its fields are checked when tasks run).
pub(crate) async fn edit(
    workflow: &Workflow,
    edit: &Edit,
    llm: bool,
    secrets: Option<&Secrets>,
) -> Result<(), StoreError> {
    let written = match &edit.change {
        Change::AddTask { task, .. } => Some(task.id()),
        Change::UpdateTask { task, .. } => Some(task.id),
        Change::DeleteTask { .. } => None,
        Change::Workflow(_) | Change::Delete => return Ok(()),
    };
    let tasks = workflow.tasks.clone();
    let change = edit.change.clone();
    let (problems, named) = isolated(move || {
        let before: Vec<Step<'_>> = tasks.iter().map(stored_step).collect();
        let after = edited(&before, &change);
        let known: HashSet<(TaskId, String, Option<String>)> = check::check(&before, llm)
            .problems
            .into_iter()
            .filter(|p| Some(p.task) != written)
            .map(|p| (p.task, p.field, p.expression))
            .collect();
        let checked = check::check(&after, llm);
        let problems = checked
            .problems
            .into_iter()
            .filter(|p| !known.contains(&(p.task, p.field.clone(), p.expression.clone())))
            .collect::<Vec<_>>();
        // Only the written task's secrets: one deleted since others were written is their
        // run's problem, reported when they run.
        let named = checked
            .secrets
            .into_iter()
            .filter(|u| Some(u.task) == written)
            .collect::<Vec<_>>();
        (problems, named)
    })
    .await?;
    let mut fields: Vec<FieldError> = problems
        .into_iter()
        .map(|p| field_error(p, written))
        .collect();
    fields.extend(missing_secrets(workflow.owner_id, named, secrets, written).await?);
    finish(fields)
}

/// A field error for each use of a secret `owner` does not have.
async fn missing_secrets(
    owner: UserId,
    uses: Vec<SecretUse>,
    secrets: Option<&Secrets>,
    written: Option<TaskId>,
) -> Result<Vec<FieldError>, StoreError> {
    if uses.is_empty() {
        return Ok(Vec::new());
    }
    let mut names: Vec<SecretName> = uses.iter().map(|u| u.name.clone()).collect();
    names.sort();
    names.dedup();
    let (missing, how) = match secrets.filter(|s| s.enabled()) {
        Some(secrets) => (
            secrets.missing(owner, &names).await?,
            "create it with POST /api/secrets",
        ),
        None => (names, SECRETS_OFF),
    };
    Ok(uses
        .into_iter()
        .filter(|u| missing.contains(&u.name))
        .map(|u| {
            let message = format!("there is no secret named `{}`: {how}", u.name);
            let problem = Problem {
                task: u.task,
                position: u.position,
                field: u.field,
                expression: Some(u.expression),
                message,
            };
            field_error(problem, written)
        })
        .collect())
}

/// The tasks as they will be after `change`.
fn edited<'a>(before: &[Step<'a>], change: &'a Change) -> Vec<Step<'a>> {
    let mut after = before.to_vec();
    let index = |after: &[Step<'_>], id: TaskId| after.iter().position(|s| s.id == id);
    match change {
        Change::AddTask { task, position } => {
            let at = usize::try_from(*position).unwrap_or(0).min(after.len());
            after.insert(at, new_step(task));
        }
        Change::UpdateTask { task, to, .. } => {
            if let Some(i) = index(&after, task.id) {
                after.remove(i);
            }
            let at = usize::try_from(*to).unwrap_or(0).min(after.len());
            after.insert(at, stored_step(task));
        }
        Change::DeleteTask { task_id, .. } => {
            if let Some(i) = index(&after, *task_id) {
                after.remove(i);
            }
        }
        Change::Workflow(_) | Change::Delete => {}
    }
    after
}

fn new_step(task: &NewTask) -> Step<'_> {
    Step {
        id: task.id(),
        key: task.key().map(|k| k.as_str()),
        task_type: task.task_type(),
        input: task.input(),
        depends_on: task.depends_on(),
        when: task.when(),
        for_each: task.for_each(),
    }
}

fn stored_step(task: &Task) -> Step<'_> {
    Step {
        id: task.id,
        key: task.key.as_deref(),
        task_type: task.task_type,
        input: &task.input,
        depends_on: task.depends_on.as_deref(),
        when: task.when.as_deref(),
        for_each: task.for_each.as_deref(),
    }
}

/// A problem as a field error: relative to the task being written (`input.url`, as the rest
/// of its request's errors), else `tasks[i].input.url`.
fn field_error(problem: Problem, written: Option<TaskId>) -> FieldError {
    let field = if Some(problem.task) == written {
        problem.field
    } else {
        format!("tasks[{}].{}", problem.position, problem.field)
    };
    let error = FieldError::new(field, problem.message);
    match problem.expression {
        Some(expression) => error.with_expression(expression),
        None => error,
    }
}

fn finish(fields: Vec<FieldError>) -> Result<(), StoreError> {
    if fields.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(fields).into())
    }
}

/// Runs `f` on a thread with a large stack, off the async runtime.
async fn isolated<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("baton-check".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .map_err(|e| anyhow::anyhow!("cannot start checking the workflow: {e}"))?;
    match rx.await {
        Ok(Ok(value)) => Ok(value),
        _ => Err(anyhow::anyhow!("checking the workflow crashed").into()),
    }
}
