use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Errors;
use crate::{
    DomainError, RetryDraft, RetryPolicy, TaskId, TaskKey, TaskStatus, TaskTitle, UserId,
    WorkflowId, check_json,
};

/// What a task does when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    /// Call an HTTP API.
    Fetch,
    /// Reshape JSON with a jq program.
    Transform,
    /// Call a language model.
    Llm,
    /// Save a JSON document.
    Store,
    /// Run a child workflow and take its output.
    Workflow,
    /// Wait for a time (`for_ms` or `until`), holding no worker.
    Sleep,
    /// Wait for a signal (`signal`, optionally `timeout_ms`), holding no worker.
    Wait,
}

/// The longest jq program a transform may hold. jq programs are parsed and compiled by
/// recursion, as deep as they nest: the bound keeps that within the stack of the thread they
/// are checked and run on.
pub const MAX_JQ_PROGRAM_CHARS: usize = 16_384;

const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl TaskType {
    pub const ALL: [TaskType; 7] = [
        Self::Fetch,
        Self::Transform,
        Self::Llm,
        Self::Store,
        Self::Workflow,
        Self::Sleep,
        Self::Wait,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Transform => "transform",
            Self::Llm => "llm",
            Self::Store => "store",
            Self::Workflow => "workflow",
            Self::Sleep => "sleep",
            Self::Wait => "wait",
        }
    }

    /// Checks that `input` has the shape this type needs. Strings may hold `{{ }}` templates,
    /// so values that are templated are checked when the task runs instead.
    pub fn check_input(self, input: &Value) -> Result<(), DomainError> {
        let Some(object) = input.as_object() else {
            return Err(DomainError::invalid("input", "must be a JSON object"));
        };
        let mut errors = Errors::default();
        let field = |name: &str| object.get(name).filter(|v| !v.is_null());
        let required_string = |errors: &mut Errors, name: &str| match field(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                errors.add(format!("input.{name}"), "must not be empty");
                None
            }
            Some(_) => {
                errors.add(format!("input.{name}"), "must be a string");
                None
            }
            None => {
                errors.add(format!("input.{name}"), "is required");
                None
            }
        };
        match self {
            Self::Fetch => {
                if let Some(url) = required_string(&mut errors, "url") {
                    let templated = url.contains("{{");
                    let lower = url.to_ascii_lowercase();
                    if !(templated || lower.starts_with("http://") || lower.starts_with("https://"))
                    {
                        errors.add("input.url", "must be an http:// or https:// URL");
                    }
                }
                match field("method") {
                    None => {}
                    Some(Value::String(m))
                        if m.contains("{{")
                            || HTTP_METHODS.contains(&m.to_ascii_uppercase().as_str()) => {}
                    Some(_) => errors.add(
                        "input.method",
                        format!("must be one of {}", HTTP_METHODS.join(", ")),
                    ),
                }
                match field("headers") {
                    None => {}
                    Some(Value::Object(h)) => {
                        for (name, value) in h {
                            if !value.is_string() {
                                errors.add(format!("input.headers.{name}"), "must be a string");
                            }
                        }
                    }
                    Some(_) => errors.add("input.headers", "must be an object of strings"),
                }
                match field("timeout_ms") {
                    None => {}
                    Some(v) if v.as_u64().is_some_and(|ms| (1..=3_600_000).contains(&ms)) => {}
                    Some(_) => errors.add("input.timeout_ms", "must be between 1 and 3600000"),
                }
            }
            Self::Transform => {
                if let Some(program) = required_string(&mut errors, "jq")
                    && program.chars().count() > MAX_JQ_PROGRAM_CHARS
                {
                    errors.add(
                        "input.jq",
                        format!("must be at most {MAX_JQ_PROGRAM_CHARS} characters"),
                    );
                }
            }
            Self::Store => {
                if let Some(collection) = required_string(&mut errors, "collection")
                    && collection.chars().count() > 100
                {
                    errors.add("input.collection", "must be at most 100 characters");
                }
                if field("document").is_none() {
                    errors.add("input.document", "is required");
                }
            }
            Self::Llm => {
                errors.check(crate::llm::check_task_input(input));
            }
            Self::Workflow => {
                errors.check(crate::child::check_input(input));
            }
            Self::Sleep | Self::Wait => {
                errors.check(crate::wait::check_input(self, input));
            }
        }
        errors.finish()
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskType {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    "type",
                    format!(
                        "unknown task type {s:?}; expected one of fetch, transform, llm, store, workflow, sleep, wait"
                    ),
                )
            })
    }
}

/// The longest a single attempt of a task may run before it counts as timed out (1 hour).
pub const MAX_TASK_TIMEOUT_MS: u64 = 3_600_000;
/// The default time limit of one attempt (5 minutes).
pub const DEFAULT_TASK_TIMEOUT_MS: u64 = 300_000;

/// A task as a client describes it, checked. Only [`NewTask::new`] builds one (its fields are
/// private); its id is chosen there.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    id: TaskId,
    key: Option<TaskKey>,
    title: TaskTitle,
    task_type: TaskType,
    input: Value,
    retry: RetryPolicy,
    timeout_ms: u64,
    depends_on: Option<Vec<String>>,
    when: Option<String>,
    for_each: Option<String>,
    max_parallel: Option<u32>,
}

/// A task as a client sent it, unchecked. Its JSON is the task of `POST /api/workflows` (a
/// workflow definition keeps its tasks so).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDraft {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub task_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryDraft>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Keys of the tasks it needs (see [`Graph`](crate::Graph)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// A template rendering to `true` or `false`: whether the task runs when its turn comes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// A template rendering to an array: the task runs once per element (with `item` and
    /// `index`), its output the array of theirs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// With `for_each`: at most this many elements run at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
}

/// The longest `when` or `for_each` template, in characters.
pub const MAX_WHEN_CHARS: usize = 4_096;

/// The most elements a `for_each` may fan out to.
pub const MAX_ELEMENTS: usize = 10_000;

fn check_for_each(for_each: String) -> Result<String, DomainError> {
    if !(for_each.contains("{{") || for_each.contains("{%")) {
        return Err(DomainError::invalid(
            "for_each",
            "must be a template rendering to an array, like \"{{ steps.list.output.items }}\"",
        ));
    }
    if for_each.chars().count() > MAX_WHEN_CHARS {
        return Err(DomainError::invalid(
            "for_each",
            format!("must be at most {MAX_WHEN_CHARS} characters"),
        ));
    }
    Ok(for_each)
}

fn check_max_parallel(max: u32, for_each: bool) -> Result<u32, DomainError> {
    if !for_each {
        return Err(DomainError::invalid(
            "max_parallel",
            "applies only to a task with for_each",
        ));
    }
    if !(1..=MAX_ELEMENTS as u32).contains(&max) {
        return Err(DomainError::invalid(
            "max_parallel",
            "must be between 1 and 10000",
        ));
    }
    Ok(max)
}

fn check_depends_on(keys: Vec<String>) -> Result<Vec<String>, DomainError> {
    if keys.len() > crate::MAX_TASKS_PER_WORKFLOW {
        return Err(DomainError::invalid(
            "depends_on",
            "lists more tasks than a workflow may have",
        ));
    }
    for key in &keys {
        TaskKey::new(key.clone()).map_err(|_| {
            DomainError::invalid(
                "depends_on",
                format!("\"{key}\" is not a task key (keys are identifiers, as `key` is)"),
            )
        })?;
    }
    Ok(keys)
}

fn check_when(when: String) -> Result<String, DomainError> {
    if !(when.contains("{{") || when.contains("{%")) {
        return Err(DomainError::invalid(
            "when",
            "must be a template rendering to true or false, like \"{{ steps.check.output.ok }}\"",
        ));
    }
    if when.chars().count() > MAX_WHEN_CHARS {
        return Err(DomainError::invalid(
            "when",
            format!("must be at most {MAX_WHEN_CHARS} characters"),
        ));
    }
    Ok(when)
}

fn check_timeout(timeout_ms: u64) -> Result<u64, DomainError> {
    if (1..=MAX_TASK_TIMEOUT_MS).contains(&timeout_ms) {
        Ok(timeout_ms)
    } else {
        Err(DomainError::invalid(
            "timeout_ms",
            "must be between 1 and 3600000",
        ))
    }
}

impl NewTask {
    /// Checks every field of `draft`, reporting all broken rules at once.
    pub fn new(draft: TaskDraft) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let key = draft
            .key
            .map(|k| errors.check(TaskKey::new(k)))
            .map(|k| k.ok_or(()));
        let title = errors.check(TaskTitle::new(draft.title.unwrap_or_default()));
        let task_type = errors.check(draft.task_type.parse::<TaskType>());
        let input = draft
            .input
            .unwrap_or_else(|| Value::Object(Default::default()));
        errors.check(check_json("input", &input));
        if let Some(t) = task_type {
            errors.check(t.check_input(&input));
        }
        let retry = errors.check(RetryPolicy::from_draft(draft.retry.unwrap_or_default()));
        let timeout_ms = errors.check(check_timeout(
            draft.timeout_ms.unwrap_or(DEFAULT_TASK_TIMEOUT_MS),
        ));
        let depends_on = draft
            .depends_on
            .map(|keys| errors.check(check_depends_on(keys)).ok_or(()));
        let when = draft
            .when
            .map(|when| errors.check(check_when(when)).ok_or(()));
        let fans_out = draft.for_each.is_some();
        let for_each = draft
            .for_each
            .map(|f| errors.check(check_for_each(f)).ok_or(()));
        let max_parallel = draft
            .max_parallel
            .map(|m| errors.check(check_max_parallel(m, fans_out)).ok_or(()));
        errors.finish()?;
        let (Ok(for_each), Ok(max_parallel)) = (for_each.transpose(), max_parallel.transpose())
        else {
            return Err(DomainError::invalid("", "invalid task"));
        };
        match (
            key.transpose(),
            title,
            task_type,
            retry,
            timeout_ms,
            depends_on.transpose(),
            when.transpose(),
        ) {
            (
                Ok(key),
                Some(title),
                Some(task_type),
                Some(retry),
                Some(timeout_ms),
                Ok(depends_on),
                Ok(when),
            ) => Ok(Self {
                id: TaskId::generate(),
                key,
                title,
                task_type,
                input,
                retry,
                timeout_ms,
                depends_on,
                when,
                for_each,
                max_parallel,
            }),
            _ => Err(DomainError::invalid("", "invalid task")),
        }
    }
}

impl NewTask {
    pub fn id(&self) -> TaskId {
        self.id
    }

    pub fn key(&self) -> Option<&TaskKey> {
        self.key.as_ref()
    }

    pub fn title(&self) -> &TaskTitle {
        &self.title
    }

    pub fn task_type(&self) -> TaskType {
        self.task_type
    }

    pub fn input(&self) -> &Value {
        &self.input
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    pub fn depends_on(&self) -> Option<&[String]> {
        self.depends_on.as_deref()
    }

    pub fn when(&self) -> Option<&str> {
        self.when.as_deref()
    }

    pub fn for_each(&self) -> Option<&str> {
        self.for_each.as_deref()
    }

    pub fn max_parallel(&self) -> Option<u32> {
        self.max_parallel
    }
}

/// A partial change to a task. `None` leaves a field as it is; `key: Some(None)` removes the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    pub key: Option<Option<String>>,
    pub title: Option<String>,
    pub task_type: Option<String>,
    pub input: Option<Value>,
    pub retry: Option<RetryDraft>,
    pub timeout_ms: Option<u64>,
    pub position: Option<i32>,
    /// `Some(None)` removes the list.
    pub depends_on: Option<Option<Vec<String>>>,
    /// `Some(None)` removes the condition.
    pub when: Option<Option<String>>,
    /// `Some(None)` makes it run once.
    pub for_each: Option<Option<String>>,
    pub max_parallel: Option<Option<u32>>,
}

impl TaskPatch {
    /// A patch that replaces every editable field, as `PUT` does; omitted fields take defaults.
    pub fn replace(draft: TaskDraft, position: Option<i32>) -> Self {
        Self {
            key: Some(draft.key),
            title: Some(draft.title.unwrap_or_default()),
            task_type: Some(draft.task_type),
            input: Some(
                draft
                    .input
                    .unwrap_or_else(|| Value::Object(Default::default())),
            ),
            retry: Some(draft.retry.unwrap_or_default()),
            timeout_ms: Some(draft.timeout_ms.unwrap_or(DEFAULT_TASK_TIMEOUT_MS)),
            position,
            depends_on: Some(draft.depends_on),
            when: Some(draft.when),
            for_each: Some(draft.for_each),
            max_parallel: Some(draft.max_parallel),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A step of a workflow, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: TaskId,
    pub workflow_id: WorkflowId,
    pub owner_id: UserId,
    pub position: i32,
    pub key: Option<String>,
    pub title: String,
    pub task_type: TaskType,
    /// The input as written, templates included.
    pub input: Value,
    /// The input of the latest attempt, templates resolved.
    pub resolved_input: Option<Value>,
    pub status: TaskStatus,
    pub attempt: i32,
    pub retry: RetryPolicy,
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
    /// Keys of the tasks it needs, as written; `None`: it needs the task before it, unless
    /// another task of the workflow lists dependencies (then it needs nothing).
    pub depends_on: Option<Vec<String>>,
    /// Its condition, as written.
    pub when: Option<String>,
    /// Its fan-out template, as written.
    pub for_each: Option<String>,
    pub max_parallel: Option<u32>,
    /// On an element of a fan-out: the task it is an element of, its index and its item.
    pub parent_task_id: Option<TaskId>,
    pub element_index: Option<i32>,
    pub item: Option<Value>,
    /// On a task with `for_each`: how many elements it fanned out to (`None` until it has).
    pub elements: Option<i32>,
    /// On a `workflow` task: the child workflow it waits for (`None` until it started one).
    pub child_workflow_id: Option<WorkflowId>,
    /// On a `sleep` or `wait` task: since when it waits (`None` until it does).
    pub waiting_since: Option<DateTime<Utc>>,
    /// On a waiting `sleep` or `wait` task: when it wakes by itself (a wait without a
    /// time-out: `None`, only its signal wakes it).
    pub wake_at: Option<DateTime<Utc>>,
}

impl Task {
    /// Applies `patch` to the editable fields, checking the result as a whole (a new type is
    /// checked against the input it ends up with). The position is left to the store.
    pub fn apply(&mut self, patch: &TaskPatch) -> Result<(), DomainError> {
        let draft = TaskDraft {
            key: patch.key.clone().unwrap_or_else(|| self.key.clone()),
            title: Some(patch.title.clone().unwrap_or_else(|| self.title.clone())),
            task_type: patch
                .task_type
                .clone()
                .unwrap_or_else(|| self.task_type.as_str().to_owned()),
            input: Some(patch.input.clone().unwrap_or_else(|| self.input.clone())),
            retry: Some(patch.retry.unwrap_or(RetryDraft {
                max_attempts: Some(self.retry.max_attempts()),
                initial_ms: Some(self.retry.initial_ms()),
                max_ms: Some(self.retry.max_ms()),
                multiplier: Some(self.retry.multiplier()),
            })),
            timeout_ms: Some(patch.timeout_ms.unwrap_or(self.timeout_ms.max(0) as u64)),
            depends_on: patch
                .depends_on
                .clone()
                .unwrap_or_else(|| self.depends_on.clone()),
            when: patch.when.clone().unwrap_or_else(|| self.when.clone()),
            for_each: patch
                .for_each
                .clone()
                .unwrap_or_else(|| self.for_each.clone()),
            max_parallel: patch.max_parallel.unwrap_or(self.max_parallel),
        };
        let new = NewTask::new(draft)?;
        self.key = new.key.map(TaskKey::into_inner);
        self.title = new.title.into_inner();
        self.task_type = new.task_type;
        self.input = new.input;
        self.retry = new.retry;
        self.timeout_ms = i64::try_from(new.timeout_ms).unwrap_or(i64::MAX);
        self.depends_on = new.depends_on;
        self.when = new.when;
        self.for_each = new.for_each;
        self.max_parallel = new.max_parallel;
        Ok(())
    }
}

#[cfg(test)]
impl Task {
    /// A queued task of `task_type` with `input`, of a new workflow, for the domain's tests.
    pub(crate) fn sample(task_type: TaskType, input: Value) -> Task {
        let now = Utc::now();
        Task {
            id: TaskId::generate(),
            workflow_id: WorkflowId::generate(),
            owner_id: UserId::LOCAL_ADMIN,
            position: 0,
            key: None,
            title: String::new(),
            task_type,
            input,
            resolved_input: None,
            status: crate::TaskStatus::Queued,
            attempt: 0,
            retry: RetryPolicy::default(),
            timeout_ms: 1_000,
            output: None,
            error: None,
            available_at: None,
            lease_owner: None,
            lease_expires_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            depends_on: None,
            when: None,
            for_each: None,
            max_parallel: None,
            parent_task_id: None,
            element_index: None,
            item: None,
            elements: None,
            child_workflow_id: None,
            waiting_since: None,
            wake_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn draft(task_type: &str, input: Value) -> TaskDraft {
        TaskDraft {
            task_type: task_type.into(),
            input: Some(input),
            ..TaskDraft::default()
        }
    }

    #[test]
    fn fetch_needs_an_http_url_unless_templated() {
        assert!(NewTask::new(draft("fetch", json!({"url": "https://example.test/x"}))).is_ok());
        assert!(NewTask::new(draft("fetch", json!({"url": "{{ input.url }}"}))).is_ok());
        let err = NewTask::new(draft("fetch", json!({"url": "ftp://x"}))).unwrap_err();
        assert!(err.to_string().contains("input.url"), "{err}");
        assert!(NewTask::new(draft("fetch", json!({}))).is_err());
        assert!(
            NewTask::new(draft("fetch", json!({"url": "http://a", "method": "BREW"}))).is_err()
        );
        assert!(
            NewTask::new(draft(
                "fetch",
                json!({"url": "http://a", "headers": {"x": 1}})
            ))
            .is_err()
        );
    }

    #[test]
    fn transform_and_store_shapes() {
        assert!(NewTask::new(draft("transform", json!({"jq": ".a"}))).is_ok());
        let longest = "-".repeat(MAX_JQ_PROGRAM_CHARS - 1) + "1";
        assert!(NewTask::new(draft("transform", json!({"jq": longest}))).is_ok());
        let err = NewTask::new(draft("transform", json!({"jq": longest + " "}))).unwrap_err();
        assert!(
            err.to_string().contains("at most 16384 characters"),
            "{err}"
        );
        assert!(NewTask::new(draft("transform", json!({"jq": 3}))).is_err());
        assert!(
            NewTask::new(draft(
                "store",
                json!({"collection": "c", "document": {"a": 1}})
            ))
            .is_ok()
        );
        let err = NewTask::new(draft("store", json!({"collection": ""}))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("input.collection") && text.contains("input.document"),
            "{text}"
        );
    }

    #[test]
    fn llm_needs_a_prompt_or_messages() {
        assert!(NewTask::new(draft("llm", json!({"prompt": "hi {{ input.name }}"}))).is_ok());
        let err = NewTask::new(draft("llm", json!({"temperature": 9}))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("input.prompt") && text.contains("input.temperature"),
            "{text}"
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = NewTask::new(TaskDraft {
            key: Some("1bad".into()),
            title: Some("x".repeat(300)),
            task_type: "teleport".into(),
            input: Some(json!([])),
            retry: None,
            timeout_ms: Some(0),
            depends_on: Some(vec!["not a key".into()]),
            when: Some("no template".into()),
            for_each: None,
            max_parallel: Some(3),
        })
        .unwrap_err();
        let DomainError::Invalid(errors) = err else {
            panic!("expected Invalid")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "key",
                "title",
                "type",
                "timeout_ms",
                "depends_on",
                "when",
                "max_parallel"
            ]
        );
    }

    #[test]
    fn input_must_be_an_object_without_nul() {
        assert!(NewTask::new(draft("transform", json!("."))).is_err());
        assert!(NewTask::new(draft("transform", json!({"jq": ".\u{0}"}))).is_err());
    }
}
