//! Rows as diesel reads and writes them (ids, JSON and times as text), and their conversion to
//! and from the domain.

use anyhow::Context;
use baton_domain::{
    Concurrency, DefinitionRef, NewEvent, NewTask, RetryPolicy, ScheduleRef, Task, TaskId,
    TaskStatus, TaskType, UserId, Workflow, WorkflowId, WorkflowStatus,
};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::schema::{events, tasks, workflows};
use crate::time::{parse, parse_opt};

/// A stored id.
pub(crate) fn uuid(text: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(text).with_context(|| format!("a stored id {text:?}"))
}

/// A stored JSON value.
pub(crate) fn json(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).context("a stored JSON value")
}

pub(crate) fn json_opt(text: Option<&str>) -> anyhow::Result<Option<Value>> {
    text.map(json).transpose()
}

/// How ids are stored: canonical lower-case hyphenated text, which sorts like the UUID.
pub(crate) fn id_text(id: &Uuid) -> String {
    id.as_hyphenated().to_string()
}

/// Task ids as stored.
pub(crate) fn task_ids(ids: &[TaskId]) -> Vec<String> {
    ids.iter().map(|id| id_text(id.as_uuid())).collect()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = workflows, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct WorkflowRow {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub current_position: i32,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub parent_id: Option<String>,
    pub parent_task_id: Option<String>,
    /// The template until it starts, the rendered key from then on; both or neither.
    pub concurrency_key: Option<String>,
    pub concurrency_limit: Option<i32>,
    pub definition_name: Option<String>,
    pub definition_version: Option<i32>,
    pub schedule_id: Option<String>,
    pub scheduled_at: Option<String>,
    /// Its budget for llm calls, and while paused, why (JSON).
    pub budget: Option<String>,
    pub paused: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = workflows)]
pub(crate) struct NewWorkflowRow<'a> {
    pub id: String,
    pub owner_id: String,
    pub name: &'a str,
    pub status: &'a str,
    pub input: String,
    /// For a child workflow: the workflow and the task that started it.
    pub parent_id: Option<String>,
    pub parent_task_id: Option<String>,
    pub concurrency_key: Option<&'a str>,
    pub concurrency_limit: Option<i32>,
    /// For a run of a definition: its name and version.
    pub definition_name: Option<&'a str>,
    pub definition_version: Option<i32>,
    /// For a run a schedule started: the schedule and its tick (as the store writes times).
    pub schedule_id: Option<String>,
    pub scheduled_at: Option<String>,
    pub budget: Option<String>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = tasks, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct TaskRow {
    pub id: String,
    pub workflow_id: String,
    pub owner_id: String,
    pub position: i32,
    pub key: Option<String>,
    pub title: String,
    pub task_type: String,
    pub input: String,
    pub resolved_input: Option<String>,
    pub status: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub backoff_initial_ms: i64,
    pub backoff_max_ms: i64,
    pub backoff_multiplier: f64,
    pub timeout_ms: i64,
    pub output: Option<String>,
    pub error: Option<String>,
    pub available_at: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub depends_on: Option<String>,
    pub run_if: Option<String>,
    pub for_each: Option<String>,
    pub max_parallel: Option<i32>,
    pub parent_task_id: Option<String>,
    pub element_index: Option<i32>,
    pub item: Option<String>,
    pub elements: Option<i32>,
    pub child_workflow_id: Option<String>,
    pub waiting_since: Option<String>,
    pub wake_at: Option<String>,
}

/// The editable columns of a task, for replacing updates (and, through [`NewTaskRow`],
/// inserts).
#[derive(Debug, AsChangeset)]
#[diesel(table_name = tasks, treat_none_as_null = true)]
pub(crate) struct TaskFieldsRow<'a> {
    pub key: Option<&'a str>,
    pub title: &'a str,
    pub task_type: &'a str,
    pub input: String,
    pub max_attempts: i32,
    pub backoff_initial_ms: i64,
    pub backoff_max_ms: i64,
    pub backoff_multiplier: f64,
    pub timeout_ms: i64,
    /// The keys of the tasks it needs, as a JSON array.
    pub depends_on: Option<String>,
    /// Its `when`.
    pub run_if: Option<&'a str>,
    pub for_each: Option<&'a str>,
    pub max_parallel: Option<i32>,
}

/// A task to insert. Flat, and `None` is NULL (SQLite has no DEFAULT in a VALUES list): diesel
/// then inserts any number of rows in one statement (an embedded struct would make it insert
/// them one by one).
#[derive(Debug, Insertable)]
#[diesel(table_name = tasks, treat_none_as_default_value = false)]
pub(crate) struct NewTaskRow<'a> {
    pub id: String,
    pub workflow_id: String,
    pub owner_id: String,
    pub position: i32,
    pub status: &'a str,
    pub key: Option<&'a str>,
    pub title: &'a str,
    pub task_type: &'a str,
    pub input: String,
    pub max_attempts: i32,
    pub backoff_initial_ms: i64,
    pub backoff_max_ms: i64,
    pub backoff_multiplier: f64,
    pub timeout_ms: i64,
    pub depends_on: Option<String>,
    pub run_if: Option<&'a str>,
    pub for_each: Option<&'a str>,
    pub max_parallel: Option<i32>,
}

impl<'a> NewTaskRow<'a> {
    /// `task` as a pending task of workflow `workflow_id` at `position`.
    pub fn pending(
        task: &'a NewTask,
        workflow_id: String,
        owner_id: String,
        position: i32,
    ) -> Self {
        let fields = TaskFieldsRow::from_new(task);
        Self {
            id: id_text(task.id().as_uuid()),
            workflow_id,
            owner_id,
            position,
            status: TaskStatus::Pending.as_str(),
            key: fields.key,
            title: fields.title,
            task_type: fields.task_type,
            input: fields.input,
            max_attempts: fields.max_attempts,
            backoff_initial_ms: fields.backoff_initial_ms,
            backoff_max_ms: fields.backoff_max_ms,
            backoff_multiplier: fields.backoff_multiplier,
            timeout_ms: fields.timeout_ms,
            depends_on: fields.depends_on,
            run_if: fields.run_if,
            for_each: fields.for_each,
            max_parallel: fields.max_parallel,
        }
    }
}

/// How `depends_on` is stored: a JSON array of the keys.
fn keys_text(keys: &[String]) -> String {
    Value::from(keys).to_string()
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl<'a> TaskFieldsRow<'a> {
    pub fn from_new(task: &'a NewTask) -> Self {
        Self {
            depends_on: task.depends_on().map(keys_text),
            run_if: task.when(),
            for_each: task.for_each(),
            max_parallel: task.max_parallel().map(clamp_i32),
            ..Self::new(
                task.key().map(|k| k.as_str()),
                task.title().as_str(),
                task.task_type(),
                task.input(),
                task.retry(),
                clamp_i64(task.timeout_ms()),
            )
        }
    }

    pub fn from_task(task: &'a Task) -> Self {
        Self {
            depends_on: task.depends_on.as_deref().map(keys_text),
            run_if: task.when.as_deref(),
            for_each: task.for_each.as_deref(),
            max_parallel: task.max_parallel.map(clamp_i32),
            ..Self::new(
                task.key.as_deref(),
                &task.title,
                task.task_type,
                &task.input,
                &task.retry,
                task.timeout_ms,
            )
        }
    }

    /// Without dependencies, condition or fan-out.
    fn new(
        key: Option<&'a str>,
        title: &'a str,
        task_type: TaskType,
        input: &Value,
        retry: &RetryPolicy,
        timeout_ms: i64,
    ) -> Self {
        Self {
            key,
            title,
            task_type: task_type.as_str(),
            input: input.to_string(),
            max_attempts: clamp_i32(retry.max_attempts()),
            backoff_initial_ms: clamp_i64(retry.initial_ms()),
            backoff_max_ms: clamp_i64(retry.max_ms()),
            backoff_multiplier: retry.multiplier(),
            timeout_ms,
            depends_on: None,
            run_if: None,
            for_each: None,
            max_parallel: None,
        }
    }
}

impl TryFrom<TaskRow> for Task {
    type Error = anyhow::Error;

    fn try_from(row: TaskRow) -> anyhow::Result<Self> {
        let retry = RetryPolicy::new(
            u32::try_from(row.max_attempts).context("max_attempts")?,
            u64::try_from(row.backoff_initial_ms).context("backoff_initial_ms")?,
            u64::try_from(row.backoff_max_ms).context("backoff_max_ms")?,
            row.backoff_multiplier,
        )
        .with_context(|| format!("stored retry policy of task {}", row.id))?;
        Ok(Task {
            id: TaskId::from_uuid(uuid(&row.id)?),
            workflow_id: WorkflowId::from_uuid(uuid(&row.workflow_id)?),
            owner_id: UserId::from_uuid(uuid(&row.owner_id)?),
            position: row.position,
            key: row.key,
            title: row.title,
            task_type: row
                .task_type
                .parse::<TaskType>()
                .context("stored task type")?,
            input: json(&row.input)?,
            resolved_input: json_opt(row.resolved_input.as_deref())?,
            status: row
                .status
                .parse::<TaskStatus>()
                .context("stored task status")?,
            attempt: row.attempt,
            retry,
            timeout_ms: row.timeout_ms,
            output: json_opt(row.output.as_deref())?,
            error: json_opt(row.error.as_deref())?,
            available_at: parse_opt(row.available_at.as_deref())?,
            lease_owner: row.lease_owner,
            lease_expires_at: parse_opt(row.lease_expires_at.as_deref())?,
            version: row.version,
            created_at: parse(&row.created_at)?,
            updated_at: parse(&row.updated_at)?,
            started_at: parse_opt(row.started_at.as_deref())?,
            finished_at: parse_opt(row.finished_at.as_deref())?,
            depends_on: row
                .depends_on
                .as_deref()
                .map(|keys| serde_json::from_str(keys).context("a stored depends_on"))
                .transpose()?,
            when: row.run_if,
            for_each: row.for_each,
            max_parallel: row
                .max_parallel
                .map(|max| u32::try_from(max).context("a stored max_parallel"))
                .transpose()?,
            parent_task_id: row
                .parent_task_id
                .as_deref()
                .map(|id| uuid(id).map(TaskId::from_uuid))
                .transpose()?,
            element_index: row.element_index,
            item: json_opt(row.item.as_deref())?,
            elements: row.elements,
            child_workflow_id: row
                .child_workflow_id
                .as_deref()
                .map(|id| uuid(id).map(WorkflowId::from_uuid))
                .transpose()?,
            waiting_since: parse_opt(row.waiting_since.as_deref())?,
            wake_at: parse_opt(row.wake_at.as_deref())?,
        })
    }
}

pub(crate) fn into_tasks(rows: Vec<TaskRow>) -> anyhow::Result<Vec<Task>> {
    rows.into_iter().map(Task::try_from).collect()
}

impl WorkflowRow {
    /// The workflow with its tasks and the elements of its fan-outs that a retry runs again.
    pub fn into_workflow(
        self,
        tasks: Vec<Task>,
        elements_to_retry: Vec<TaskId>,
    ) -> anyhow::Result<Workflow> {
        Ok(Workflow {
            id: WorkflowId::from_uuid(uuid(&self.id)?),
            owner_id: UserId::from_uuid(uuid(&self.owner_id)?),
            name: self.name,
            status: self
                .status
                .parse::<WorkflowStatus>()
                .context("stored workflow status")?
                .with_pause(self.paused.is_some()),
            input: json(&self.input)?,
            output: json_opt(self.output.as_deref())?,
            error: json_opt(self.error.as_deref())?,
            current_position: self.current_position,
            version: self.version,
            created_at: parse(&self.created_at)?,
            updated_at: parse(&self.updated_at)?,
            started_at: parse_opt(self.started_at.as_deref())?,
            finished_at: parse_opt(self.finished_at.as_deref())?,
            tasks,
            elements_to_retry,
            parent_id: self
                .parent_id
                .as_deref()
                .map(|id| uuid(id).map(WorkflowId::from_uuid))
                .transpose()?,
            parent_task_id: self
                .parent_task_id
                .as_deref()
                .map(|id| uuid(id).map(TaskId::from_uuid))
                .transpose()?,
            concurrency: match (self.concurrency_key, self.concurrency_limit) {
                (Some(key), Some(limit)) => Some(Concurrency {
                    key,
                    limit: u32::try_from(limit).context("a stored concurrency limit")?,
                }),
                _ => None,
            },
            definition: self
                .definition_name
                .zip(self.definition_version)
                .map(|(name, version)| DefinitionRef { name, version }),
            schedule: match (self.schedule_id, self.scheduled_at) {
                (Some(id), Some(at)) => Some(ScheduleRef {
                    id: uuid(&id)?,
                    at: parse(&at)?,
                }),
                _ => None,
            },
            budget: json_opt(self.budget.as_deref())?
                .map(serde_json::from_value)
                .transpose()
                .context("a stored budget")?,
            paused: json_opt(self.paused.as_deref())?,
        })
    }
}

/// An event row; its payload is the domain's serialisation ([`NewEvent::data`]).
#[derive(Debug, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub(crate) struct NewEventRow {
    pub workflow_id: String,
    pub task_id: Option<String>,
    pub attempt: Option<i32>,
    pub event_type: &'static str,
    pub data: String,
}

impl From<&NewEvent> for NewEventRow {
    fn from(event: &NewEvent) -> Self {
        Self {
            workflow_id: id_text(event.workflow_id.as_uuid()),
            task_id: event.task_id().map(|id| id_text(id.as_uuid())),
            attempt: event.row_attempt(),
            event_type: event.event_type(),
            data: event.data().to_string(),
        }
    }
}
