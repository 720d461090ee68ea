//! Step transitions: what finishing an attempt of a claimed task changes. Decided here, as a
//! [`StepCommit`]; a store applies one in a single transaction, fenced by the lease token, and
//! reports [`StepApplied::Lost`] (changing nothing) when the lease is no longer held.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Claim, EventKind, LeaseToken, NewDocument, NewEvent, TaskError, TaskId, WorkflowId};

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
    /// Queued again: runnable `after` this long, by the store's clock.
    Retry {
        after: Duration,
        error: Value,
    },
    Failed {
        error: Value,
    },
}

/// What the workflow becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkflowOutcome {
    /// Still running; its current task is now at `position`.
    Advanced {
        position: i32,
    },
    /// Still running, nothing to record on the workflow (a retry).
    Unchanged,
    Completed {
        output: Value,
    },
    Failed {
        error: Value,
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
/// task), the `queue` tasks become queued, the `claim_task` becomes running under `claim`, the
/// workflow takes `workflow`, the `events` are appended in order, and with `then_claim` one
/// queued task of any workflow is claimed.
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
    pub workflow: WorkflowOutcome,
    pub events: Vec<NewEvent>,
    pub then_claim: Option<NextClaim>,
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
            workflow: WorkflowOutcome::Unchanged,
            events: Vec::new(),
            then_claim: None,
        }
    }

    /// The attempt succeeded with `output`: the next task runs (claimed at once under
    /// `carry_on`, else queued for any worker), or the workflow is completed with `output`.
    pub fn completed(
        claim: &Claim,
        resolved_input: Value,
        output: Value,
        document: Option<NewDocument>,
        carry_on: Option<&CarryOn>,
    ) -> Self {
        let workflow_id = claim.task.workflow_id;
        let mut step = Self::base(
            claim,
            Fence::Held,
            TaskOutcome::Completed {
                output: output.clone(),
            },
        );
        step.resolved_input = Some(resolved_input);
        step.document = document;
        step.events.push(NewEvent::of_attempt(
            workflow_id,
            claim.task.attempt,
            EventKind::TaskCompleted {
                task_id: claim.task.id,
                output: output.clone(),
            },
        ));
        match claim.successor {
            Some(next) => {
                step.workflow = WorkflowOutcome::Advanced {
                    position: claim.task.position + 1,
                };
                match carry_on {
                    Some(carry_on) => {
                        let next_claim = carry_on.claim();
                        step.events.push(NewEvent::new(
                            workflow_id,
                            EventKind::TaskStarted {
                                task_id: next.id,
                                attempt: next.attempt + 1,
                                worker: carry_on.worker.clone(),
                            },
                        ));
                        step.claim_task = Some((next.id, next_claim));
                    }
                    None => step.queue.push(next.id),
                }
            }
            None => {
                step.workflow = WorkflowOutcome::Completed {
                    output: output.clone(),
                };
                step.events.push(NewEvent::new(
                    workflow_id,
                    EventKind::WorkflowCompleted { output },
                ));
                step.then_claim = carry_on.map(CarryOn::claim);
            }
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
                step.events.push(NewEvent::new(
                    task.workflow_id,
                    EventKind::TaskRetrying {
                        task_id: task.id,
                        attempt: task.attempt,
                        error: error_json,
                        retry_at: None,
                    },
                ));
                step
            }
            None => {
                let workflow_error = json!({
                    "task_id": task.id,
                    "position": task.position,
                    "key": task.key,
                    "kind": error.kind,
                    "message": error.message,
                });
                let mut step = Self::base(
                    claim,
                    fence,
                    TaskOutcome::Failed {
                        error: error_json.clone(),
                    },
                );
                step.workflow = WorkflowOutcome::Failed {
                    error: workflow_error.clone(),
                };
                step.events.push(NewEvent::of_attempt(
                    task.workflow_id,
                    task.attempt,
                    EventKind::TaskFailed {
                        task_id: task.id,
                        error: error_json,
                    },
                ));
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

    /// Whether the step makes work runnable for other workers.
    pub fn queues_work(&self) -> bool {
        !self.queue.is_empty()
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
