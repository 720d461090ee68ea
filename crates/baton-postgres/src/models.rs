//! Rows as diesel reads and writes them, and their conversion to and from the domain.

use anyhow::Context;
use baton_domain::{
    Concurrency, DefinitionRef, NewTask, RetryPolicy, ScheduleRef, Task, TaskId, TaskStatus,
    TaskType, UserId, Workflow, WorkflowId, WorkflowStatus,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::schema::{tasks, workflows};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = workflows, check_for_backend(diesel::pg::Pg))]
pub(crate) struct WorkflowRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub status: String,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub current_position: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// On a child workflow: the workflow and the task that started it.
    pub parent_id: Option<Uuid>,
    pub parent_task_id: Option<Uuid>,
    /// The template until it starts, the rendered key from then on; both or neither.
    pub concurrency_key: Option<String>,
    pub concurrency_limit: Option<i32>,
    /// On a run of a definition: its name and version.
    pub definition_name: Option<String>,
    pub definition_version: Option<i32>,
    /// On a run a schedule started: the schedule and its tick.
    pub schedule_id: Option<Uuid>,
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Its budget for llm calls, and while paused, why.
    pub budget: Option<Value>,
    pub paused: Option<Value>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = workflows)]
pub(crate) struct NewWorkflowRow<'a> {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: &'a str,
    pub status: &'a str,
    pub input: &'a Value,
    pub parent_id: Option<Uuid>,
    pub parent_task_id: Option<Uuid>,
    pub concurrency_key: Option<&'a str>,
    pub concurrency_limit: Option<i32>,
    pub definition_name: Option<&'a str>,
    pub definition_version: Option<i32>,
    pub schedule_id: Option<Uuid>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub budget: Option<Value>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, serde::Deserialize)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
pub(crate) struct TaskRow {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub owner_id: Uuid,
    pub position: i32,
    pub key: Option<String>,
    pub title: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub input: Value,
    pub resolved_input: Option<Value>,
    pub status: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub backoff_initial_ms: i64,
    pub backoff_max_ms: i64,
    pub backoff_multiplier: f64,
    pub timeout_ms: i64,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub available_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// A JSON array of task keys.
    pub depends_on: Option<Value>,
    /// The task's `when`.
    pub run_if: Option<String>,
    pub for_each: Option<String>,
    pub max_parallel: Option<i32>,
    /// On an element of a fan-out: its parent, its index and its item.
    pub parent_task_id: Option<Uuid>,
    pub element_index: Option<i32>,
    pub item: Option<Value>,
    /// On a task that fanned out: how many elements it has.
    pub elements: Option<i32>,
    /// On a `workflow` task: the child workflow it waits for.
    #[serde(default)]
    pub child_workflow_id: Option<Uuid>,
    /// On a `sleep` or `wait` task: since when it waits, and when it wakes by itself.
    #[serde(default)]
    pub waiting_since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub wake_at: Option<DateTime<Utc>>,
}

/// The editable columns of a task, for inserts and replacing updates.
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = tasks, treat_none_as_null = true)]
pub(crate) struct TaskFieldsRow<'a> {
    pub key: Option<&'a str>,
    pub title: &'a str,
    pub task_type: &'a str,
    pub input: &'a Value,
    pub max_attempts: i32,
    pub backoff_initial_ms: i64,
    pub backoff_max_ms: i64,
    pub backoff_multiplier: f64,
    pub timeout_ms: i64,
    pub depends_on: Option<Value>,
    pub run_if: Option<&'a str>,
    pub for_each: Option<&'a str>,
    pub max_parallel: Option<i32>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tasks)]
pub(crate) struct NewTaskRow<'a> {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub owner_id: Uuid,
    pub position: i32,
    pub status: &'a str,
    #[diesel(embed)]
    pub fields: TaskFieldsRow<'a>,
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl<'a> TaskFieldsRow<'a> {
    pub fn from_new(task: &'a NewTask) -> Self {
        Self::new(
            task.key().map(|k| k.as_str()),
            task.title().as_str(),
            task.task_type(),
            task.input(),
            task.retry(),
            clamp_i64(task.timeout_ms()),
            task.depends_on(),
            task.when(),
            task.for_each(),
            task.max_parallel(),
        )
    }

    pub fn from_task(task: &'a Task) -> Self {
        Self::new(
            task.key.as_deref(),
            &task.title,
            task.task_type,
            &task.input,
            &task.retry,
            task.timeout_ms,
            task.depends_on.as_deref(),
            task.when.as_deref(),
            task.for_each.as_deref(),
            task.max_parallel,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        key: Option<&'a str>,
        title: &'a str,
        task_type: TaskType,
        input: &'a Value,
        retry: &RetryPolicy,
        timeout_ms: i64,
        depends_on: Option<&[String]>,
        run_if: Option<&'a str>,
        for_each: Option<&'a str>,
        max_parallel: Option<u32>,
    ) -> Self {
        Self {
            key,
            title,
            task_type: task_type.as_str(),
            input,
            max_attempts: clamp_i32(retry.max_attempts()),
            backoff_initial_ms: clamp_i64(retry.initial_ms()),
            backoff_max_ms: clamp_i64(retry.max_ms()),
            backoff_multiplier: retry.multiplier(),
            timeout_ms,
            depends_on: depends_on
                .map(|keys| Value::Array(keys.iter().cloned().map(Value::String).collect())),
            run_if,
            for_each,
            max_parallel: max_parallel.map(clamp_i32),
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
        let depends_on = row
            .depends_on
            .map(serde_json::from_value::<Vec<String>>)
            .transpose()
            .with_context(|| format!("stored depends_on of task {}", row.id))?;
        let max_parallel = row
            .max_parallel
            .map(u32::try_from)
            .transpose()
            .with_context(|| format!("stored max_parallel of task {}", row.id))?;
        // An element's item is stored (JSON null included); a claim's JSON cannot tell a
        // null item from none, so an element always has one.
        let item = match row.element_index {
            Some(_) => Some(row.item.unwrap_or(Value::Null)),
            None => row.item,
        };
        Ok(Task {
            id: TaskId::from_uuid(row.id),
            workflow_id: WorkflowId::from_uuid(row.workflow_id),
            owner_id: UserId::from_uuid(row.owner_id),
            position: row.position,
            key: row.key,
            title: row.title,
            task_type: row
                .task_type
                .parse::<TaskType>()
                .context("stored task type")?,
            input: row.input,
            resolved_input: row.resolved_input,
            status: row
                .status
                .parse::<TaskStatus>()
                .context("stored task status")?,
            attempt: row.attempt,
            retry,
            timeout_ms: row.timeout_ms,
            output: row.output,
            error: row.error,
            available_at: row.available_at,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            depends_on,
            when: row.run_if,
            for_each: row.for_each,
            max_parallel,
            parent_task_id: row.parent_task_id.map(TaskId::from_uuid),
            element_index: row.element_index,
            item,
            elements: row.elements,
            child_workflow_id: row.child_workflow_id.map(WorkflowId::from_uuid),
            waiting_since: row.waiting_since,
            wake_at: row.wake_at,
        })
    }
}

impl WorkflowRow {
    /// The workflow with its tasks and the elements of their fan-outs a retry runs again.
    pub fn into_workflow(
        self,
        tasks: Vec<Task>,
        elements_to_retry: Vec<TaskId>,
    ) -> anyhow::Result<Workflow> {
        Ok(Workflow {
            id: WorkflowId::from_uuid(self.id),
            owner_id: UserId::from_uuid(self.owner_id),
            name: self.name,
            status: self
                .status
                .parse::<WorkflowStatus>()
                .context("stored workflow status")?
                .with_pause(self.paused.is_some()),
            input: self.input,
            output: self.output,
            error: self.error,
            current_position: self.current_position,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            tasks,
            elements_to_retry,
            parent_id: self.parent_id.map(WorkflowId::from_uuid),
            parent_task_id: self.parent_task_id.map(TaskId::from_uuid),
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
            schedule: self
                .schedule_id
                .zip(self.scheduled_at)
                .map(|(id, at)| ScheduleRef { id, at }),
            budget: self
                .budget
                .map(serde_json::from_value)
                .transpose()
                .context("a stored budget")?,
            paused: self.paused,
        })
    }
}

/// A claimed task as the step functions answer it (JSON): the only decoder of a claim.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ClaimJson {
    #[serde(flatten)]
    pub task: TaskRow,
    pub workflow_name: String,
    pub workflow_input: Value,
    /// The tasks that need it, by position (replacing the row's own list of their ids).
    pub dependents: Vec<DependentJson>,
    pub output_task: Option<Uuid>,
    /// For a task of a child workflow: the parent's task that waits for it.
    #[serde(default)]
    pub parent_task: Option<Uuid>,
    /// Its workflow's concurrency key, rendered, when it has one.
    #[serde(default)]
    pub concurrency_key: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct DependentJson {
    pub id: Uuid,
    pub position: i32,
    pub attempt: i32,
    pub waiting_on: i32,
    #[serde(default)]
    pub element_index: Option<i32>,
}

impl TryFrom<ClaimJson> for baton_domain::Claim {
    type Error = anyhow::Error;

    fn try_from(row: ClaimJson) -> anyhow::Result<Self> {
        let token = row
            .task
            .lease_owner
            .clone()
            .context("a claimed task without a lease")?;
        Ok(baton_domain::Claim {
            task: Task::try_from(row.task)?,
            token: baton_domain::LeaseToken::from_stored(token),
            workflow_name: row.workflow_name,
            workflow_input: row.workflow_input,
            dependents: row
                .dependents
                .into_iter()
                .map(|d| baton_domain::Dependent {
                    id: TaskId::from_uuid(d.id),
                    position: d.position,
                    attempt: d.attempt,
                    waiting_on: d.waiting_on,
                    element_index: d.element_index,
                })
                .collect(),
            output_task: row.output_task.map(TaskId::from_uuid),
            parent_task: row.parent_task.map(TaskId::from_uuid),
            concurrency_key: row.concurrency_key,
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = crate::schema::events)]
pub(crate) struct NewEventRow {
    pub workflow_id: Uuid,
    pub task_id: Option<Uuid>,
    pub attempt: Option<i32>,
    pub event_type: &'static str,
    pub data: Value,
}

impl From<&baton_domain::NewEvent> for NewEventRow {
    fn from(event: &baton_domain::NewEvent) -> Self {
        Self {
            workflow_id: *event.workflow_id.as_uuid(),
            task_id: event.task_id().map(|id| *id.as_uuid()),
            attempt: event.row_attempt(),
            event_type: event.event_type(),
            data: event.data(),
        }
    }
}
