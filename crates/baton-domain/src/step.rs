//! Step transitions: what finishing an attempt of a claimed task changes. Decided here, as a
//! [`StepCommit`]; a store applies one in a single transaction, fenced by the lease token, and
//! reports [`StepApplied::Lost`] (changing nothing) when the lease is no longer held.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{
    Claim, Dependent, DomainError, EventKind, LeaseToken, NewDocument, NewEvent, NewWorkflow,
    SignalId, SignalName, TaskError, TaskId, Transition, UserId, WorkflowId,
};

/// Which lease a step's write requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// The claim still holds its lease (the worker's own result).
    Held,
    /// The claim's lease has expired (the reaper re-queueing an abandoned attempt).
    Expired,
}

/// What the claimed task becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Completed {
        output: Value,
    },
    /// It did not run (its `when` was false, or every dependency was skipped): done, with a
    /// null output.
    Skipped {
        reason: String,
    },
    /// Fanned out: the task waits (pending) for these elements, which run as tasks of their
    /// own (copying its type, input, retry policy and time limit), and joins their outputs
    /// when the last is done. Like [`StartChild`](Self::StartChild), it hands its attempt
    /// back (`attempt - 1`): the claim that joins is the attempt, counted once.
    Expand {
        elements: Vec<NewElement>,
    },
    /// Started a child workflow: the task waits (pending, one dependency: the child) for
    /// `workflow`, stored and started (`start`) in the same transaction, and hands its attempt
    /// back (`attempt - 1`). When the child ends, the task is queued again (cancelled, when its
    /// workflow is no longer running) and joins it.
    StartChild {
        workflow: Box<NewWorkflow>,
        start: Box<Transition>,
    },
    /// A `sleep` or `wait` task parks (see [`crate::Waiting`]): queued again, runnable at
    /// `until` (never, when `None`, until a signal wakes it), holding no lease; it records
    /// since when it waits (kept from its first park) and `until` as its wake time, and hands
    /// its attempt back (`attempt - 1`), as a fan-out does. For a wait (`signal`), the store
    /// makes it runnable at once instead when a signal of that name is already kept for the
    /// workflow: one sent while the wait was deciding is not missed.
    Wait {
        until: Option<DateTime<Utc>>,
        signal: Option<String>,
    },
    /// Queued again (forgetting its child workflow, if it had one: the next attempt starts a
    /// new one): runnable `after` this long, by the store's clock.
    Retry {
        after: Duration,
        error: Value,
    },
    Failed {
        error: Value,
    },
}

/// An element of a fan-out, to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewElement {
    pub id: TaskId,
    pub index: i32,
    pub item: Value,
    /// Its parent, and the element that waits for it (`max_parallel` apart).
    pub dependents: Vec<TaskId>,
    /// 0: queued at once; 1: waits for the element `max_parallel` before it.
    pub waiting_on: i32,
}

/// What the workflow becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkflowOutcome {
    /// One task fewer is unfinished. When none is left, the workflow is completed with the
    /// output of `output_task`, and a `workflow.completed` event carrying it is appended after
    /// the step's events. Its current position becomes at least `advance_to`.
    TaskDone {
        output_task: TaskId,
        advance_to: Option<i32>,
        /// For a child workflow: when it completes, its parent's waiting task is released.
        parent_task: Option<TaskId>,
    },
    /// Still running, nothing to record on the workflow (a retry).
    Unchanged,
    /// Failed: its other queued and running tasks are cancelled and lose their leases (a
    /// running attempt's result will be refused); pending ones stay pending.
    Failed {
        error: Value,
        /// For a child workflow: its parent's waiting task is released (to fail).
        parent_task: Option<TaskId>,
    },
}

/// A task to claim in the step's own transaction, for the worker that finished the step.
#[derive(Debug, Clone, PartialEq)]
pub struct NextClaim {
    pub token: LeaseToken,
    pub lease: Duration,
}

/// How a worker goes on after a step: it claims what comes next itself, under a new lease.
#[derive(Debug, Clone, PartialEq)]
pub struct CarryOn {
    pub worker: String,
    pub lease: Duration,
}

impl CarryOn {
    fn claim(&self) -> NextClaim {
        NextClaim {
            token: LeaseToken::new(&self.worker),
            lease: self.lease,
        }
    }
}

/// A decided step transition, applied atomically by a store.
///
/// In order: the claimed task takes `outcome` (only while `token` holds the lease as `fence`
/// says; otherwise nothing at all is applied), the `document` is written (at most once per
/// task), the `queue` tasks (pending dependents now ready) become queued, the `claim_task`
/// (one such, pending) becomes running under its claim, each `release` task counts one
/// unfinished dependency fewer and becomes queued when none is left, the workflow takes
/// `workflow`, the `events` are appended in order, and with `then_claim` one queued task of
/// any workflow is claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCommit {
    pub workflow_id: WorkflowId,
    pub task_id: TaskId,
    pub token: LeaseToken,
    pub fence: Fence,
    pub outcome: TaskOutcome,
    pub resolved_input: Option<Value>,
    pub document: Option<NewDocument>,
    pub queue: Vec<TaskId>,
    pub claim_task: Option<(TaskId, NextClaim)>,
    pub release: Vec<TaskId>,
    pub workflow: WorkflowOutcome,
    pub events: Vec<NewEvent>,
    pub then_claim: Option<NextClaim>,
    /// A `wait` task completed with this signal's payload: the signal is consumed by the task,
    /// only while it is still kept (else nothing at all is applied: the store reports an
    /// error, and the task's attempt is tried again when its lease expires).
    pub consume_signal: Option<SignalId>,
    /// The owner and concurrency key of the workflow when this step may end it (it fails it,
    /// or finishes a task nothing depends on): a slot of the key may free, so admission runs
    /// for it once the step is applied.
    pub frees_slot: Option<(UserId, String)>,
}

/// What applying a [`StepCommit`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum StepApplied {
    /// The lease was not held: nothing changed, the result is dropped.
    Lost,
    /// Applied; `next` is the task claimed for the worker, when one was.
    Applied { next: Option<Box<Claim>> },
}

impl StepCommit {
    fn base(claim: &Claim, fence: Fence, outcome: TaskOutcome) -> Self {
        Self {
            workflow_id: claim.task.workflow_id,
            task_id: claim.task.id,
            token: claim.token.clone(),
            fence,
            outcome,
            resolved_input: None,
            document: None,
            queue: Vec::new(),
            claim_task: None,
            release: Vec::new(),
            workflow: WorkflowOutcome::Unchanged,
            events: Vec::new(),
            then_claim: None,
            consume_signal: None,
            frees_slot: None,
        }
    }

    /// The claim's workflow's owner and concurrency key, when it has one.
    fn slot_of(claim: &Claim) -> Option<(UserId, String)> {
        claim
            .concurrency_key
            .clone()
            .map(|key| (claim.task.owner_id, key))
    }

    /// The attempt succeeded with `output`: the dependents it was the last to wait for run
    /// (one claimed at once under `carry_on`, the others queued for any worker), the others
    /// count it as done, and the workflow has one task fewer to finish.
    pub fn completed(
        claim: &Claim,
        resolved_input: Value,
        output: Value,
        document: Option<NewDocument>,
        carry_on: Option<&CarryOn>,
    ) -> Self {
        let event = EventKind::TaskCompleted {
            task_id: claim.task.id,
            output: output.clone(),
        };
        let mut step = Self::done(claim, TaskOutcome::Completed { output }, event, carry_on);
        step.resolved_input = Some(resolved_input);
        step.document = document;
        step
    }

    /// The task is skipped, for `reason` (its `when` was false, or every dependency was
    /// skipped): done as [`completed`](Self::completed) is, with a null output.
    pub fn skipped(
        claim: &Claim,
        resolved_input: Option<Value>,
        reason: String,
        carry_on: Option<&CarryOn>,
    ) -> Self {
        let event = EventKind::TaskSkipped {
            task_id: claim.task.id,
            reason: reason.clone(),
        };
        let mut step = Self::done(claim, TaskOutcome::Skipped { reason }, event, carry_on);
        step.resolved_input = resolved_input;
        step
    }

    fn done(
        claim: &Claim,
        outcome: TaskOutcome,
        event: EventKind,
        carry_on: Option<&CarryOn>,
    ) -> Self {
        let workflow_id = claim.task.workflow_id;
        let mut step = Self::base(claim, Fence::Held, outcome);
        step.events.push(
            match event {
                EventKind::TaskCompleted { .. } => {
                    NewEvent::of_attempt(workflow_id, claim.task.attempt, event)
                }
                _ => NewEvent::new(workflow_id, event),
            }
            .of_element(claim.task.element_index),
        );
        let (ready, waiting): (Vec<&Dependent>, Vec<&Dependent>) =
            claim.dependents.iter().partition(|d| d.waiting_on <= 1);
        step.release = waiting.iter().map(|d| d.id).collect();
        let mut ready = ready.into_iter();
        if let (Some(carry_on), Some(next)) = (carry_on, ready.clone().next()) {
            ready.next();
            let next_claim = carry_on.claim();
            step.events.push(
                NewEvent::new(
                    workflow_id,
                    EventKind::TaskStarted {
                        task_id: next.id,
                        attempt: next.attempt + 1,
                        worker: carry_on.worker.clone(),
                    },
                )
                .of_element(next.element_index),
            );
            step.claim_task = Some((next.id, next_claim));
        }
        step.queue = ready.map(|d| d.id).collect();
        // An element is not one of the workflow's tasks: its parent is, when it joins.
        if claim.task.parent_task_id.is_none() {
            if claim.dependents.is_empty() {
                step.frees_slot = Self::slot_of(claim);
            }
            step.workflow = WorkflowOutcome::TaskDone {
                output_task: claim.output_task.unwrap_or(claim.task.id),
                advance_to: claim
                    .dependents
                    .iter()
                    .filter(|d| d.waiting_on <= 1)
                    .map(|d| d.position)
                    .max(),
                parent_task: claim.parent_task,
            };
        }
        if step.claim_task.is_none() {
            // Nothing of this workflow to go on with here: take any queued task.
            step.then_claim = carry_on.map(CarryOn::claim);
        }
        step
    }

    /// The attempt failed with `error`: queued again after `retry_in`, or (when `None`) failed
    /// for good, and its workflow with it.
    pub fn failed(
        claim: &Claim,
        resolved_input: Option<Value>,
        error: &TaskError,
        retry_in: Option<Duration>,
        fence: Fence,
    ) -> Self {
        let task = &claim.task;
        let error_json = error.to_json(claim.attempt());
        let mut step = match retry_in {
            Some(after) => {
                let mut step = Self::base(
                    claim,
                    fence,
                    TaskOutcome::Retry {
                        after,
                        error: error_json.clone(),
                    },
                );
                step.events.push(
                    NewEvent::new(
                        task.workflow_id,
                        EventKind::TaskRetrying {
                            task_id: task.id,
                            attempt: task.attempt,
                            error: error_json,
                            retry_at: None,
                        },
                    )
                    .of_element(task.element_index),
                );
                step
            }
            None => {
                let mut workflow_error = json!({
                    "task_id": task.id,
                    "position": task.position,
                    "key": task.key,
                    "kind": error.kind,
                    "message": error.message,
                });
                if let (Some(parent), Some(index)) = (task.parent_task_id, task.element_index) {
                    workflow_error["parent_task_id"] = json!(parent);
                    workflow_error["index"] = json!(index);
                }
                let mut step = Self::base(
                    claim,
                    fence,
                    TaskOutcome::Failed {
                        error: error_json.clone(),
                    },
                );
                step.frees_slot = Self::slot_of(claim);
                step.workflow = WorkflowOutcome::Failed {
                    error: workflow_error.clone(),
                    parent_task: claim.parent_task,
                };
                step.events.push(
                    NewEvent::of_attempt(
                        task.workflow_id,
                        task.attempt,
                        EventKind::TaskFailed {
                            task_id: task.id,
                            error: error_json,
                        },
                    )
                    .of_element(task.element_index),
                );
                step.events.push(NewEvent::new(
                    task.workflow_id,
                    EventKind::WorkflowFailed {
                        error: workflow_error,
                    },
                ));
                step
            }
        };
        step.resolved_input = resolved_input;
        step
    }

    /// The task fans out over `items` (at least one): an element per item, at most
    /// `max_parallel` queued at once, each next one waiting for the one `max_parallel` before
    /// it; the task waits for them all. With `carry_on`, the worker claims one at once.
    pub fn expanded(
        claim: &Claim,
        items: Vec<Value>,
        max_parallel: Option<u32>,
        carry_on: Option<&CarryOn>,
    ) -> Self {
        let ids: Vec<TaskId> = items.iter().map(|_| TaskId::generate()).collect();
        let width = max_parallel.map_or(ids.len(), |m| m.max(1) as usize);
        let elements: Vec<NewElement> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let mut dependents = vec![claim.task.id];
                dependents.extend(ids.get(i + width).copied());
                NewElement {
                    id: ids[i],
                    index: i32::try_from(i).unwrap_or(i32::MAX),
                    item,
                    dependents,
                    waiting_on: i32::from(i >= width),
                }
            })
            .collect();
        let count = i32::try_from(elements.len()).unwrap_or(i32::MAX);
        let mut step = Self::base(claim, Fence::Held, TaskOutcome::Expand { elements });
        step.events.push(NewEvent::new(
            claim.task.workflow_id,
            EventKind::TaskFannedOut {
                task_id: claim.task.id,
                elements: count,
            },
        ));
        step.then_claim = carry_on.map(CarryOn::claim);
        step
    }

    /// The `workflow` task starts `child` (see [`NewWorkflow::child`]) and waits for it.
    pub fn child_started(
        claim: &Claim,
        resolved_input: Value,
        child: NewWorkflow,
    ) -> Result<Self, DomainError> {
        let start = child.start()?;
        let child_id = child.id();
        let mut step = Self::base(
            claim,
            Fence::Held,
            TaskOutcome::StartChild {
                workflow: Box::new(child),
                start: Box::new(start),
            },
        );
        step.resolved_input = Some(resolved_input);
        step.events.push(NewEvent::new(
            claim.task.workflow_id,
            EventKind::TaskChildStarted {
                task_id: claim.task.id,
                child_workflow_id: child_id,
            },
        ));
        Ok(step)
    }

    /// The `sleep` or `wait` task parks (see [`TaskOutcome::Wait`]); `first` appends its
    /// `task.waiting` event. With `carry_on`, the worker takes any queued task.
    pub fn parked(
        claim: &Claim,
        resolved_input: Value,
        until: Option<DateTime<Utc>>,
        signal: Option<SignalName>,
        first: bool,
        carry_on: Option<&CarryOn>,
    ) -> Self {
        let signal = signal.map(SignalName::into_inner);
        let mut step = Self::base(
            claim,
            Fence::Held,
            TaskOutcome::Wait {
                until,
                signal: signal.clone(),
            },
        );
        step.resolved_input = Some(resolved_input);
        if first {
            step.events.push(
                NewEvent::new(
                    claim.task.workflow_id,
                    EventKind::TaskWaiting {
                        task_id: claim.task.id,
                        signal,
                        until,
                    },
                )
                .of_element(claim.task.element_index),
            );
        }
        step.then_claim = carry_on.map(CarryOn::claim);
        step
    }

    /// An `llm` call of the task did not fit its workflow's budget (the store paused the
    /// workflow when it refused the reservation): the task parks, runnable never until the
    /// workflow is resumed, handing its attempt back, with a `budget.exceeded` event.
    pub fn budget_parked(
        claim: &Claim,
        resolved_input: Value,
        detail: Value,
        carry_on: Option<&CarryOn>,
    ) -> Self {
        let mut step = Self::base(
            claim,
            Fence::Held,
            TaskOutcome::Wait {
                until: None,
                signal: None,
            },
        );
        step.resolved_input = Some(resolved_input);
        step.events.push(
            NewEvent::new(
                claim.task.workflow_id,
                EventKind::BudgetExceeded {
                    task_id: claim.task.id,
                    attempt: claim.task.attempt,
                    detail,
                },
            )
            .of_element(claim.task.element_index),
        );
        step.then_claim = carry_on.map(CarryOn::claim);
        step
    }

    /// The status the claimed task takes.
    pub fn status(&self) -> crate::TaskStatus {
        match self.outcome {
            TaskOutcome::Completed { .. } => crate::TaskStatus::Completed,
            TaskOutcome::Skipped { .. } => crate::TaskStatus::Skipped,
            TaskOutcome::Expand { .. } | TaskOutcome::StartChild { .. } => {
                crate::TaskStatus::Pending
            }
            TaskOutcome::Retry { .. } | TaskOutcome::Wait { .. } => crate::TaskStatus::Queued,
            TaskOutcome::Failed { .. } => crate::TaskStatus::Failed,
        }
    }

    /// Whether the step may make work runnable for other workers.
    pub fn queues_work(&self) -> bool {
        !self.queue.is_empty()
            || !self.release.is_empty()
            || matches!(
                self.outcome,
                TaskOutcome::Expand { .. }
                    | TaskOutcome::StartChild { .. }
                    // A wait whose signal came meanwhile is runnable at once.
                    | TaskOutcome::Wait {
                        signal: Some(_),
                        ..
                    }
            )
            || matches!(
                self.workflow,
                WorkflowOutcome::TaskDone {
                    parent_task: Some(_),
                    ..
                } | WorkflowOutcome::Failed {
                    parent_task: Some(_),
                    ..
                }
            )
    }
}

/// When to try again after `error` at the claim's attempt, or `None` when the task has failed
/// for good. `unit` in `[0, 1)` draws the jitter.
pub fn retry_delay(claim: &Claim, error: &TaskError, unit: f64) -> Option<Duration> {
    let attempt = claim.attempt();
    if !error.retryable || !claim.task.retry.allows_another(attempt) {
        return None;
    }
    let backoff = claim.task.retry.backoff(attempt, unit);
    Some(
        error
            .retry_after
            .map_or(backoff, |after| after.max(backoff)),
    )
}
