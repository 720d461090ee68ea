use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::Budget;
use crate::error::Errors;
use crate::{
    Concurrency, DefinitionRef, DomainError, NewTask, ScheduleRef, Task, TaskDraft, TaskId, UserId,
    WorkflowId, WorkflowName, WorkflowStatus, check_json,
};

/// At most this many tasks in one workflow.
pub const MAX_TASKS_PER_WORKFLOW: usize = 1_000;

/// A workflow as a client describes it, checked: a name, an input and its ordered tasks. Its
/// fields are private so that only [`NewWorkflow::new`] builds one; its id is chosen here.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    id: WorkflowId,
    owner_id: UserId,
    name: WorkflowName,
    input: Value,
    tasks: Vec<NewTask>,
    parent: Option<(WorkflowId, TaskId)>,
    concurrency: Option<Concurrency>,
    definition: Option<DefinitionRef>,
    schedule: Option<ScheduleRef>,
    budget: Option<Budget>,
}

impl NewWorkflow {
    /// Checks the whole workflow, reporting every broken rule at once (task errors are
    /// prefixed `tasks[i]`).
    pub fn new(
        owner_id: UserId,
        name: String,
        input: Option<Value>,
        tasks: Vec<TaskDraft>,
    ) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let name = errors.check(WorkflowName::new(name));
        let input = input.unwrap_or_else(|| Value::Object(Default::default()));
        errors.check(check_json("input", &input));
        if tasks.len() > MAX_TASKS_PER_WORKFLOW {
            errors.add(
                "tasks",
                format!("a workflow has at most {MAX_TASKS_PER_WORKFLOW} tasks"),
            );
            return errors
                .finish()
                .and(Err(DomainError::invalid("tasks", "too many tasks")));
        }
        let mut checked = Vec::with_capacity(tasks.len());
        let mut keys = HashSet::new();
        for (i, draft) in tasks.into_iter().enumerate() {
            match NewTask::new(draft) {
                Ok(task) => {
                    if let Some(key) = task.key()
                        && !keys.insert(key.clone())
                    {
                        errors.add(
                            format!("tasks[{i}].key"),
                            format!("{key:?} is used by an earlier task of this workflow"),
                        );
                    }
                    checked.push(task);
                }
                Err(err) => errors.push(err.under(&format!("tasks[{i}]"))),
            }
        }
        errors.finish()?;
        match name {
            Some(name) => Ok(Self {
                id: WorkflowId::generate(),
                owner_id,
                name,
                input,
                tasks: checked,
                parent: None,
                concurrency: None,
                definition: None,
                schedule: None,
                budget: None,
            }),
            None => Err(DomainError::invalid("name", "is invalid")),
        }
    }
}

impl NewWorkflow {
    pub fn id(&self) -> WorkflowId {
        self.id
    }

    pub fn owner_id(&self) -> UserId {
        self.owner_id
    }

    /// The workflow and task that started it, for a child workflow.
    pub fn parent(&self) -> Option<(WorkflowId, TaskId)> {
        self.parent
    }

    /// Its concurrency key (a template over `input`, rendered when it starts) and limit.
    pub fn concurrency(&self) -> Option<&Concurrency> {
        self.concurrency.as_ref()
    }

    /// The same workflow with a concurrency key and limit (checked by [`Concurrency::new`]).
    pub fn with_concurrency(mut self, concurrency: Option<Concurrency>) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// The same workflow as the child of `task` of `workflow`.
    pub(crate) fn with_parent(mut self, workflow: WorkflowId, task: TaskId) -> Self {
        self.parent = Some((workflow, task));
        self
    }

    /// The definition version it is a run of.
    pub fn definition(&self) -> Option<&DefinitionRef> {
        self.definition.as_ref()
    }

    pub(crate) fn with_definition(mut self, definition: DefinitionRef) -> Self {
        self.definition = Some(definition);
        self
    }

    /// The schedule and tick that started it.
    pub fn schedule(&self) -> Option<&ScheduleRef> {
        self.schedule.as_ref()
    }

    pub(crate) fn with_schedule(mut self, schedule: ScheduleRef) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// Its budget for `llm` calls (see [`Budget`]).
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    pub fn with_budget(mut self, budget: Option<Budget>) -> Self {
        self.budget = budget;
        self
    }

    pub fn name(&self) -> &WorkflowName {
        &self.name
    }

    pub fn input(&self) -> &Value {
        &self.input
    }

    /// Its tasks in order (position = index).
    pub fn tasks(&self) -> &[NewTask] {
        &self.tasks
    }
}

/// A change to a pending workflow; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowPatch {
    pub name: Option<WorkflowName>,
    pub input: Option<Value>,
    /// `Some(None)` removes the concurrency key.
    pub concurrency: Option<Option<Concurrency>>,
    /// `Some(None)` removes the budget. A patch of the budget alone may change an unfinished
    /// workflow of any status (raising the budget of a paused one); any other field, only a
    /// pending one's.
    pub budget: Option<Option<Budget>>,
}

impl WorkflowPatch {
    pub fn new(name: Option<String>, input: Option<Value>) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let name = name.and_then(|n| errors.check(WorkflowName::new(n)));
        if let Some(input) = &input {
            errors.check(check_json("input", input));
        }
        errors.finish()?;
        Ok(Self {
            name,
            input,
            concurrency: None,
            budget: None,
        })
    }

    /// The same patch, also setting (or, with `Some(None)`, removing) the concurrency key.
    pub fn with_concurrency(mut self, concurrency: Option<Option<Concurrency>>) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// The same patch, also setting (or, with `Some(None)`, removing) the budget.
    pub fn with_budget(mut self, budget: Option<Option<Budget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.input.is_none()
            && self.concurrency.is_none()
            && self.budget.is_none()
    }

    /// Whether it changes the budget and nothing else.
    pub fn budget_only(&self) -> bool {
        self.budget.is_some()
            && self.name.is_none()
            && self.input.is_none()
            && self.concurrency.is_none()
    }
}

/// A workflow as stored, with its tasks in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    pub id: WorkflowId,
    pub owner_id: UserId,
    pub name: String,
    pub status: WorkflowStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub current_position: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Its tasks by position (not the elements of their fan-outs).
    pub tasks: Vec<Task>,
    /// Elements of its fan-outs that failed or were cancelled: a retry runs them again.
    pub elements_to_retry: Vec<TaskId>,
    /// For a child workflow: the workflow and the task that started it.
    pub parent_id: Option<WorkflowId>,
    pub parent_task_id: Option<TaskId>,
    /// Its concurrency key (the template until it starts, rendered from then on) and limit.
    pub concurrency: Option<Concurrency>,
    /// For a run of a definition: which version.
    pub definition: Option<DefinitionRef>,
    /// For a run a schedule started: the schedule and its tick.
    pub schedule: Option<ScheduleRef>,
    /// Its budget for `llm` calls.
    pub budget: Option<Budget>,
    /// While paused (see [`WorkflowStatus::Paused`]): why, as its `budget.exceeded` event said.
    pub paused: Option<Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn transform(key: Option<&str>) -> TaskDraft {
        TaskDraft {
            key: key.map(Into::into),
            task_type: "transform".into(),
            input: Some(json!({"jq": "."})),
            ..TaskDraft::default()
        }
    }

    #[test]
    fn accepts_a_valid_workflow() {
        let wf = NewWorkflow::new(
            UserId::LOCAL_ADMIN,
            "digest".into(),
            None,
            vec![transform(Some("a")), transform(None), transform(None)],
        )
        .unwrap();
        assert_eq!(wf.tasks().len(), 3);
        assert_eq!(wf.input(), &json!({}));
    }

    #[test]
    fn duplicate_keys_and_task_errors_are_located() {
        let mut bad = transform(None);
        bad.task_type = "nope".into();
        let err = NewWorkflow::new(
            UserId::LOCAL_ADMIN,
            "".into(),
            None,
            vec![transform(Some("a")), transform(Some("a")), bad],
        )
        .unwrap_err();
        let DomainError::Invalid(errors) = err else {
            panic!("expected Invalid")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "tasks[1].key", "tasks[2].type"]);
    }

    #[test]
    fn too_many_tasks() {
        let tasks = vec![transform(None); MAX_TASKS_PER_WORKFLOW + 1];
        let err = NewWorkflow::new(UserId::LOCAL_ADMIN, "x".into(), None, tasks).unwrap_err();
        assert!(err.to_string().contains("at most 1000"), "{err}");
        let tasks = vec![transform(None); MAX_TASKS_PER_WORKFLOW];
        assert!(NewWorkflow::new(UserId::LOCAL_ADMIN, "x".into(), None, tasks).is_ok());
    }
}
