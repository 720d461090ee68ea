//! Durable time and human input: `sleep` and `wait` tasks, and the signals that wake waits.
//!
//! A `sleep` or `wait` task at its turn holds no worker while it waits: its step *parks* it
//! ([`StepCommit::parked`](crate::StepCommit::parked)), queued again with its wake time as the
//! time it becomes runnable (never, for a wait without a time-out, until a signal comes). A
//! signal sent to the workflow is kept until a wait for its name consumes it, once; sending
//! one makes the parked waits for that name runnable at once. What a claimed sleep or wait
//! does is decided here ([`Waiting::decide`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{DomainError, SignalId, Task, TaskId, TaskType, UserId, Workflow, WorkflowId};

/// The longest a signal name may be.
pub const MAX_SIGNAL_NAME_CHARS: usize = 100;

/// The longest a `sleep` may last or a `wait` may wait for its signal: a year.
pub const MAX_WAIT_MS: u64 = 366 * 24 * 3_600_000;

/// A signal's name: 1 to 100 of `A-Z a-z 0-9 _ - . :` (it is a URL path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignalName(String);

impl SignalName {
    /// What a signal name may be, for a person.
    pub const RULE: &str =
        "a signal name is 1 to 100 characters of letters, digits, `_`, `-`, `.` and `:`";

    pub fn new(name: impl Into<String>) -> Result<Self, DomainError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.chars().count() <= MAX_SIGNAL_NAME_CHARS
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if ok {
            Ok(Self(name))
        } else {
            Err(DomainError::invalid("name", Self::RULE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A signal to store: its payload becomes the output of the wait that consumes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSignal {
    pub id: SignalId,
    pub workflow_id: WorkflowId,
    pub owner_id: UserId,
    pub name: SignalName,
    pub payload: Value,
}

impl NewSignal {
    /// A signal for `workflow`. A pending or running workflow keeps it for its waits; a
    /// finished one (completed, failed or cancelled) takes none: its waits are over.
    pub fn to(workflow: &Workflow, name: SignalName, payload: Value) -> Result<Self, DomainError> {
        if workflow.status.is_terminal() {
            return Err(DomainError::conflict(format!(
                "the workflow is {}: a finished workflow takes no signals",
                workflow.status
            )));
        }
        crate::check_json("payload", &payload)?;
        Ok(Self {
            id: SignalId::generate(),
            workflow_id: workflow.id,
            owner_id: workflow.owner_id,
            name,
            payload,
        })
    }
}

/// A stored signal.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSignal {
    pub id: SignalId,
    pub workflow_id: WorkflowId,
    pub name: String,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// The wait task that consumed it, and when; `None` while it is kept.
    pub consumed_by: Option<TaskId>,
    pub consumed_at: Option<DateTime<Utc>>,
}

/// What a `wait` does when its time-out comes first.
#[derive(Debug, Clone, PartialEq)]
pub enum OnTimeout {
    /// The task fails (for good: waiting again would wait as long).
    Fail,
    /// The task completes with this output.
    Continue(Value),
}

/// A `sleep` task's input, rendered: how long, or until when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sleep {
    For(u64),
    Until(DateTime<Utc>),
}

/// A `wait` task's input, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub signal: SignalName,
    pub timeout_ms: Option<u64>,
    pub on_timeout: OnTimeout,
}

/// What a claimed `sleep` or `wait` task does now.
#[derive(Debug, Clone, PartialEq)]
pub enum Waiting {
    /// Done: completes with this output, consuming `signal` when it is a signal's payload.
    Done {
        output: Value,
        signal: Option<SignalId>,
    },
    /// Waits (parked): until `until` (none: only a signal wakes it), for `signal`. `first`
    /// when it starts waiting now (its `task.waiting` event is appended then only).
    Park {
        until: Option<DateTime<Utc>>,
        signal: Option<SignalName>,
        first: bool,
    },
    /// A wait's time-out came with no signal and the wait fails.
    TimedOut { message: String },
}

impl Waiting {
    /// Decides a claimed sleep, at `now` (the deciding instance's clock). A sleep that has
    /// waited (its wake time set and come, by the store's clock) is done; one whose time is
    /// past or zero is done at once.
    pub fn sleep(task: &Task, sleep: Sleep, now: DateTime<Utc>) -> Self {
        let woke = task.waiting_since.is_some() && woken_by_time(task);
        let until = task.wake_at.or_else(|| match sleep {
            Sleep::For(ms) => Some(now + chrono::Duration::milliseconds(clamp_ms(ms))),
            Sleep::Until(at) => Some(at),
        });
        match until {
            Some(at) if !woke && at > now => Self::Park {
                until: Some(at),
                signal: None,
                first: task.waiting_since.is_none(),
            },
            at => Self::Done {
                output: serde_json::json!({ "until": at }),
                signal: None,
            },
        }
    }

    /// Decides a claimed wait, given the oldest kept signal for its name, at `now`: the
    /// signal's payload is its output; without one, a wait whose time-out has come (by the
    /// store's clock: it was woken at its wake time) times out, any other waits (again: a
    /// wake that found no signal, as when another wait consumed it first).
    pub fn wait(
        task: &Task,
        wait: &Wait,
        signal: Option<&ReceivedSignal>,
        now: DateTime<Utc>,
    ) -> Self {
        if let Some(signal) = signal {
            return Self::Done {
                output: signal.payload.clone(),
                signal: Some(signal.id),
            };
        }
        let until = task.wake_at.or_else(|| {
            wait.timeout_ms
                .map(|ms| now + chrono::Duration::milliseconds(clamp_ms(ms)))
        });
        if task.waiting_since.is_some() && until.is_some() && woken_by_time(task) {
            return match &wait.on_timeout {
                OnTimeout::Fail => Self::TimedOut {
                    message: format!(
                        "no signal \"{}\" came within {} ms",
                        wait.signal.as_str(),
                        wait.timeout_ms.unwrap_or_default()
                    ),
                },
                OnTimeout::Continue(default) => Self::Done {
                    output: default.clone(),
                    signal: None,
                },
            };
        }
        Self::Park {
            until,
            signal: Some(wait.signal.clone()),
            first: task.waiting_since.is_none(),
        }
    }
}

/// Whether a parked task was made runnable by its wake time coming (rather than by a signal,
/// which makes it runnable before its wake time): the store set its runnable time to the wake
/// time when it parked it, and only a signal moves it earlier.
fn woken_by_time(task: &Task) -> bool {
    match (task.wake_at, task.available_at) {
        (Some(wake), Some(available)) => available >= wake,
        _ => false,
    }
}

fn clamp_ms(ms: u64) -> i64 {
    i64::try_from(ms.min(MAX_WAIT_MS)).unwrap_or(i64::MAX)
}

/// A `sleep` input, rendered: exactly one of `for_ms` (milliseconds, at most a year) and
/// `until` (an RFC 3339 time).
pub fn sleep_of(input: &Value) -> Result<Sleep, DomainError> {
    let for_ms = input.get("for_ms").filter(|v| !v.is_null());
    let until = input.get("until").filter(|v| !v.is_null());
    match (for_ms, until) {
        (Some(ms), None) => duration_ms("input.for_ms", ms).map(Sleep::For),
        (None, Some(at)) => time_of("input.until", at).map(Sleep::Until),
        _ => Err(DomainError::invalid(
            "input",
            "a sleep needs exactly one of `for_ms` and `until`",
        )),
    }
}

/// A `wait` input, rendered: `signal`, optional `timeout_ms`, `on_timeout` (`"fail"`, the
/// default, or `"continue"`) and, with `"continue"`, the output `default` (null if absent).
pub fn wait_of(input: &Value) -> Result<Wait, DomainError> {
    let signal = match input.get("signal") {
        Some(Value::String(name)) => SignalName::new(name.clone())
            .map_err(|_| DomainError::invalid("input.signal", SignalName::RULE))?,
        Some(_) => return Err(DomainError::invalid("input.signal", "must be a string")),
        None => return Err(DomainError::invalid("input.signal", "is required")),
    };
    let timeout_ms = match input.get("timeout_ms").filter(|v| !v.is_null()) {
        Some(ms) => Some(duration_ms("input.timeout_ms", ms)?),
        None => None,
    };
    let on_timeout = match input.get("on_timeout").filter(|v| !v.is_null()) {
        None => OnTimeout::Fail,
        Some(Value::String(s)) if s == "fail" => OnTimeout::Fail,
        Some(Value::String(s)) if s == "continue" => {
            OnTimeout::Continue(input.get("default").cloned().unwrap_or(Value::Null))
        }
        Some(_) => {
            return Err(DomainError::invalid(
                "input.on_timeout",
                "must be \"fail\" or \"continue\"",
            ));
        }
    };
    if timeout_ms.is_none() && input.get("on_timeout").is_some_and(|v| !v.is_null()) {
        return Err(DomainError::invalid(
            "input.on_timeout",
            "applies only with `timeout_ms`",
        ));
    }
    Ok(Wait {
        signal,
        timeout_ms,
        on_timeout,
    })
}

fn is_templated(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.contains("{{") || s.contains("{%"))
}

fn duration_ms(field: &str, value: &Value) -> Result<u64, DomainError> {
    let ms = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match ms {
        Some(ms) if ms <= MAX_WAIT_MS => Ok(ms),
        _ => Err(DomainError::invalid(
            field,
            format!("must be a whole number of milliseconds from 0 to {MAX_WAIT_MS}"),
        )),
    }
}

fn time_of(field: &str, value: &Value) -> Result<DateTime<Utc>, DomainError> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            DomainError::invalid(
                field,
                "must be an RFC 3339 time, like \"2026-12-24T18:00:00Z\"",
            )
        })
}

/// Checks a `sleep` or `wait` input as written: what is templated is checked when it renders.
pub(crate) fn check_input(task_type: TaskType, input: &Value) -> Result<(), DomainError> {
    // Replace templated values by neutral ones, then check the shape as if rendered.
    let mut shape = input.clone();
    if let Some(object) = shape.as_object_mut() {
        for (key, value) in object.iter_mut() {
            if is_templated(value) {
                *value = match key.as_str() {
                    "until" => Value::String("2000-01-01T00:00:00Z".into()),
                    "signal" => {
                        return Err(DomainError::invalid(
                            "input.signal",
                            "must be a plain name, not a template",
                        ));
                    }
                    _ => Value::from(0),
                };
            }
        }
    }
    match task_type {
        TaskType::Sleep => sleep_of(&shape).map(|_| ()),
        _ => wait_of(&shape).map(|_| ()),
    }
}

#[cfg(test)]
mod tests;
