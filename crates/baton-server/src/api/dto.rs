//! The JSON shapes of the HTTP API: requests as clients send them, responses as they receive them.

use baton_domain::{RetryDraft, RetryPolicy, Task, TaskDraft, Workflow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::concurrency::{ConcurrencySpec, ConcurrencyView, WorkflowStatusName};

/// A retry policy; missing fields take the defaults (3 attempts, 1 s initial delay, 60 s at most,
/// doubling).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, 1 to 100 (default 3).
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: Option<u32>,
    /// Largest delay before the second attempt, in milliseconds (default 1000).
    #[schema(minimum = 1, maximum = 86_400_000)]
    pub initial_ms: Option<u64>,
    /// Cap on the delay, in milliseconds, at least `initial_ms` (default 60000).
    #[schema(minimum = 1, maximum = 86_400_000)]
    pub max_ms: Option<u64>,
    /// Growth of the delay per attempt, 1 to 10 (default 2).
    #[schema(minimum = 1, maximum = 10)]
    pub multiplier: Option<f64>,
}

impl From<RetrySpec> for RetryDraft {
    fn from(spec: RetrySpec) -> Self {
        RetryDraft {
            max_attempts: spec.max_attempts,
            initial_ms: spec.initial_ms,
            max_ms: spec.max_ms,
            multiplier: spec.multiplier,
        }
    }
}

/// A task inside a workflow to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Unique within the workflow; templates reach the task's result as `steps.<key>`.
    #[schema(max_length = 64, pattern = "^[A-Za-z_][A-Za-z0-9_]*$")]
    pub key: Option<String>,
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// `fetch`, `transform`, `llm`, `store`, `workflow` (a child workflow: `input` is
    /// `{name?, input?, tasks}`, `name` and `input` templated, `tasks` as here), `sleep`
    /// (`{for_ms}` or `{until}`, an RFC 3339 time; templated) or `wait` (`{signal, timeout_ms?,
    /// on_timeout?: "fail" | "continue", default?}`: its output is the signal's body).
    #[serde(rename = "type")]
    pub task_type: String,
    /// The task's parameters; strings may hold `{{ }}` templates.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    pub retry: Option<RetrySpec>,
    /// Time limit of one attempt, in milliseconds (default 300000).
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub timeout_ms: Option<u64>,
    /// Keys of the tasks it needs: it runs once they are all done (completed or skipped), at the
    /// same time as other ready tasks. When no task of the workflow lists any, each task needs
    /// the one before it.
    #[schema(max_items = 1_000)]
    pub depends_on: Option<Vec<String>>,
    /// A template rendering to `true` or `false`, evaluated when the task's turn comes: `false`
    /// skips it (status `skipped`, output null).
    #[schema(max_length = 4_096)]
    pub when: Option<String>,
    /// A template rendering to an array: the task runs once per element, its templates seeing
    /// `item` and `index`, its output the array of the elements' outputs in order (at most
    /// 10,000 elements; none: `[]` at once).
    #[schema(max_length = 4_096)]
    pub for_each: Option<String>,
    /// With `for_each`: at most this many elements run at a time (default: as many as workers
    /// allow).
    #[schema(minimum = 1, maximum = 10_000)]
    pub max_parallel: Option<u32>,
}

impl From<TaskSpec> for TaskDraft {
    fn from(spec: TaskSpec) -> Self {
        TaskDraft {
            key: spec.key,
            title: spec.title,
            task_type: spec.task_type,
            input: spec.input,
            retry: spec.retry.map(Into::into),
            timeout_ms: spec.timeout_ms,
            depends_on: spec.depends_on,
            when: spec.when,
            for_each: spec.for_each,
            max_parallel: spec.max_parallel,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkflow {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The workflow's input, reachable in templates as `input`.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// Its steps, in order: at most 1,000.
    #[serde(default)]
    #[schema(max_items = 1_000)]
    pub tasks: Vec<TaskSpec>,
    /// Start it at once (its first task is queued in the same transaction).
    #[serde(default)]
    pub start: bool,
    /// At most `limit` of the caller's workflows with the same key run at once.
    pub concurrency: Option<ConcurrencySpec>,
    /// What its `llm` calls may use at most; a call that would go over it is not made and the
    /// workflow is paused (see `budget.exceeded`).
    pub budget: Option<BudgetSpec>,
}

/// A workflow's budget for its `llm` calls: either limit or both. Each call reserves its worst
/// case (the prompt's estimate plus its `max_tokens`, priced by `BATON_LLM_PRICES`) until the
/// provider's counts settle it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Prompt and completion tokens, all calls together.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// US dollars, all calls together (by `BATON_LLM_PRICES`).
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
}

impl BudgetSpec {
    pub fn checked(self) -> Result<baton_domain::Budget, baton_domain::DomainError> {
        baton_domain::Budget::new("budget", self.max_tokens, self.max_cost_usd)
    }
}

impl From<baton_domain::Budget> for BudgetSpec {
    fn from(b: baton_domain::Budget) -> Self {
        Self {
            max_tokens: b.max_tokens,
            max_cost_usd: b.max_cost_usd,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchWorkflow {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// A new concurrency key and limit; `null` removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ConcurrencySpec>)]
    pub concurrency: Option<Option<ConcurrencySpec>>,
    /// A new budget (`null` removes it). Alone (with `version`), it may change a workflow that
    /// has started, such as raising a paused one's before resuming it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BudgetSpec>)]
    pub budget: Option<Option<BudgetSpec>>,
    /// When present, the change applies only if this is the current version (else 409).
    pub version: Option<i32>,
}

/// Adds a task to a pending workflow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    pub workflow_id: Uuid,
    /// 0-based; at the end when absent. Later tasks move down.
    #[schema(minimum = 0)]
    pub position: Option<i32>,
    #[schema(max_length = 64, pattern = "^[A-Za-z_][A-Za-z0-9_]*$")]
    pub key: Option<String>,
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub task_type: String,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    pub retry: Option<RetrySpec>,
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub timeout_ms: Option<u64>,
    /// Keys of the tasks it needs: it runs once they are all done (completed or skipped), at the
    /// same time as other ready tasks. When no task of the workflow lists any, each task needs
    /// the one before it.
    #[schema(max_items = 1_000)]
    pub depends_on: Option<Vec<String>>,
    /// A template rendering to `true` or `false`, evaluated when the task's turn comes: `false`
    /// skips it (status `skipped`, output null).
    #[schema(max_length = 4_096)]
    pub when: Option<String>,
    /// A template rendering to an array: the task runs once per element, its templates seeing
    /// `item` and `index`, its output the array of the elements' outputs in order (at most
    /// 10,000 elements; none: `[]` at once).
    #[schema(max_length = 4_096)]
    pub for_each: Option<String>,
    /// With `for_each`: at most this many elements run at a time (default: as many as workers
    /// allow).
    #[schema(minimum = 1, maximum = 10_000)]
    pub max_parallel: Option<u32>,
}

impl CreateTask {
    pub fn into_parts(self) -> (Uuid, Option<i32>, TaskDraft) {
        let draft = TaskDraft {
            key: self.key,
            title: self.title,
            task_type: self.task_type,
            input: self.input,
            retry: self.retry.map(Into::into),
            timeout_ms: self.timeout_ms,
            depends_on: self.depends_on,
            when: self.when,
            for_each: self.for_each,
            max_parallel: self.max_parallel,
        };
        (self.workflow_id, self.position, draft)
    }
}

/// Replaces a task's editable fields; omitted ones take their defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTask {
    #[schema(minimum = 0)]
    pub position: Option<i32>,
    #[schema(max_length = 64, pattern = "^[A-Za-z_][A-Za-z0-9_]*$")]
    pub key: Option<String>,
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub task_type: String,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    pub retry: Option<RetrySpec>,
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub timeout_ms: Option<u64>,
    /// Keys of the tasks it needs: it runs once they are all done (completed or skipped), at the
    /// same time as other ready tasks. When no task of the workflow lists any, each task needs
    /// the one before it.
    #[schema(max_items = 1_000)]
    pub depends_on: Option<Vec<String>>,
    /// A template rendering to `true` or `false`, evaluated when the task's turn comes: `false`
    /// skips it (status `skipped`, output null).
    #[schema(max_length = 4_096)]
    pub when: Option<String>,
    /// A template rendering to an array: the task runs once per element, its templates seeing
    /// `item` and `index`, its output the array of the elements' outputs in order (at most
    /// 10,000 elements; none: `[]` at once).
    #[schema(max_length = 4_096)]
    pub for_each: Option<String>,
    /// With `for_each`: at most this many elements run at a time (default: as many as workers
    /// allow).
    #[schema(minimum = 1, maximum = 10_000)]
    pub max_parallel: Option<u32>,
    /// When present, the change applies only if this is the current version (else 409).
    pub version: Option<i32>,
}

/// Changes some of a task's fields; `"key": null` removes the key, `"depends_on": null` its
/// list of dependencies, `"when": null` its condition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTask {
    #[schema(minimum = 0)]
    pub position: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 64, pattern = "^[A-Za-z_][A-Za-z0-9_]*$")]
    pub key: Option<Option<String>>,
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub task_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    pub retry: Option<RetrySpec>,
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>, max_items = 1_000)]
    pub depends_on: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 4_096)]
    pub when: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 4_096)]
    pub for_each: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10_000)]
    pub max_parallel: Option<Option<u32>>,
    /// When present, the change applies only if this is the current version (else 409).
    pub version: Option<i32>,
}

/// Tells a field sent as `null` (`Some(None)`) from a missing one (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetryView {
    pub max_attempts: u32,
    pub initial_ms: u64,
    pub max_ms: u64,
    pub multiplier: f64,
}

impl From<&RetryPolicy> for RetryView {
    fn from(p: &RetryPolicy) -> Self {
        Self {
            max_attempts: p.max_attempts(),
            initial_ms: p.initial_ms(),
            max_ms: p.max_ms(),
            multiplier: p.multiplier(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub owner_id: Uuid,
    pub position: i32,
    pub key: Option<String>,
    pub title: String,
    #[serde(rename = "type")]
    pub task_type: String,
    /// As written, templates included.
    #[schema(value_type = Object)]
    pub input: Value,
    /// The input of the latest attempt, templates resolved.
    #[schema(value_type = Option<Object>)]
    pub resolved_input: Option<Value>,
    /// pending, queued, running, completed, skipped, failed or cancelled.
    pub status: String,
    /// Keys of the tasks it needs, as written (null: the task before it, unless other tasks
    /// list dependencies, then none).
    pub depends_on: Option<Vec<String>>,
    /// Its condition, as written.
    pub when: Option<String>,
    pub for_each: Option<String>,
    pub max_parallel: Option<u32>,
    /// On a task with `for_each`: how many elements it fanned out to, once it has.
    pub elements: Option<i32>,
    /// On an element of a fan-out: the task it belongs to, its index and its item.
    pub parent_task_id: Option<Uuid>,
    pub element_index: Option<i32>,
    #[schema(value_type = Option<Object>)]
    pub item: Option<Value>,
    /// On a `workflow` task: the child workflow it started (and waits for, while pending).
    pub child_workflow_id: Option<Uuid>,
    /// On a `sleep` or `wait` task: since when it waits (queued, holding no worker).
    pub waiting_since: Option<DateTime<Utc>>,
    /// On a waiting `sleep` or `wait` task: when it wakes by itself (a sleep's end, a wait's
    /// time-out); null for a wait without a time-out.
    pub wake_at: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub retry: RetryView,
    pub timeout_ms: i64,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub available_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        Self {
            id: t.id.into(),
            workflow_id: t.workflow_id.into(),
            owner_id: t.owner_id.into(),
            position: t.position,
            key: t.key,
            title: t.title,
            task_type: t.task_type.as_str().to_owned(),
            input: t.input,
            resolved_input: t.resolved_input,
            status: t.status.as_str().to_owned(),
            depends_on: t.depends_on,
            when: t.when,
            for_each: t.for_each,
            max_parallel: t.max_parallel,
            elements: t.elements,
            parent_task_id: t.parent_task_id.map(Into::into),
            element_index: t.element_index,
            item: t.item,
            child_workflow_id: t.child_workflow_id.map(Into::into),
            waiting_since: t.waiting_since,
            wake_at: t.wake_at,
            attempt: t.attempt,
            retry: RetryView::from(&t.retry),
            timeout_ms: t.timeout_ms,
            output: t.output,
            error: t.error,
            available_at: t.available_at,
            lease_owner: t.lease_owner,
            lease_expires_at: t.lease_expires_at,
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    /// pending, queued (started, waiting for a slot of its concurrency key), running, paused
    /// (an `llm` call did not fit its budget: raise it and resume), completed, failed or
    /// cancelled.
    #[schema(value_type = WorkflowStatusName)]
    pub status: String,
    #[schema(value_type = Object)]
    pub input: Value,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub current_position: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// For a child workflow: the workflow and the task that started it.
    pub parent_id: Option<Uuid>,
    pub parent_task_id: Option<Uuid>,
    /// Its concurrency key and limit, if it has one.
    pub concurrency: Option<ConcurrencyView>,
    /// For a run of a definition: which version (null for a plain workflow).
    pub definition: Option<DefinitionRefView>,
    /// For a run a schedule started: the schedule and its tick.
    pub schedule: Option<ScheduleRefView>,
    /// Its budget for `llm` calls, if it has one.
    pub budget: Option<BudgetSpec>,
    /// While paused: the call that did not fit, as its `budget.exceeded` event said
    /// (`budget`, `spent`, `reserved`, `needed`).
    #[schema(value_type = Option<Object>)]
    pub paused: Option<Value>,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionRefView {
    pub name: String,
    pub version: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleRefView {
    pub id: Uuid,
    /// The tick this run is for.
    pub at: DateTime<Utc>,
}

impl From<Workflow> for WorkflowView {
    fn from(w: Workflow) -> Self {
        Self {
            id: w.id.into(),
            owner_id: w.owner_id.into(),
            name: w.name,
            status: w.status.as_str().to_owned(),
            input: w.input,
            output: w.output,
            error: w.error,
            current_position: w.current_position,
            version: w.version,
            created_at: w.created_at,
            updated_at: w.updated_at,
            started_at: w.started_at,
            finished_at: w.finished_at,
            parent_id: w.parent_id.map(Into::into),
            parent_task_id: w.parent_task_id.map(Into::into),
            concurrency: w.concurrency.map(Into::into),
            definition: w.definition.map(|d| DefinitionRefView {
                name: d.name,
                version: d.version,
            }),
            schedule: w.schedule.map(|s| ScheduleRefView { id: s.id, at: s.at }),
            budget: w.budget.map(Into::into),
            paused: w.paused,
            tasks: w.tasks.into_iter().map(Into::into).collect(),
        }
    }
}

/// A page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowPage {
    pub data: Vec<WorkflowView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub data: Vec<TaskView>,
    pub next_cursor: Option<String>,
}

/// A workflow's tasks by position.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskList {
    pub data: Vec<TaskView>,
}

/// The error format of every failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// For people.
    pub error: String,
    /// For programs: VALIDATION_ERROR, NOT_FOUND, CONFLICT, PRECONDITION_FAILED, …
    pub code: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}
