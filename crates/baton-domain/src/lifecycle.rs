//! Starting, cancelling and retrying a workflow: which status may do what, decided on the
//! workflow as read, as a [`Transition`] a store applies only while the workflow still has the
//! status it was decided from.

use crate::{
    DomainError, EventKind, FieldError, Graph, GraphTask, NewEvent, NewWorkflow, TaskId,
    TaskStatus, Wiring, Workflow, WorkflowId, WorkflowStatus,
};

/// A decided change of a workflow's status, with what it does to the tasks and its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub workflow_id: WorkflowId,
    /// The status the decision was made from: the store applies nothing (answering
    /// `StoreError::Stale`) when the workflow no longer has it.
    pub from: WorkflowStatus,
    pub to: WorkflowStatus,
    pub effect: Effect,
    pub events: Vec<NewEvent>,
}

/// What a transition does to the workflow's tasks and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Started: `started_at` set, current position 0, each task wired (what it releases, how
    /// many dependencies it waits for), `unfinished` tasks to finish with `output_task`'s output
    /// as the workflow's, and these pending tasks (the roots) queued now.
    Start {
        queue: Vec<TaskId>,
        wiring: Vec<Wiring>,
        output_task: TaskId,
    },
    /// Cancelled: `finished_at` set; every task still in [`TaskStatus::UNFINISHED`] is
    /// cancelled and loses its lease (a running attempt's result will be refused); so are its
    /// descendant workflows (children, theirs, …) and their tasks; and for a child workflow,
    /// its parent's waiting `parent_task` is released (to fail).
    Cancel { parent_task: Option<TaskId> },
    /// Resumed: error and `finished_at` cleared; these failed (and, by the failure, cancelled)
    /// tasks and fan-out elements queued now with a fresh attempt budget (attempt 0).
    Retry { requeue: Vec<TaskId> },
    /// Parked until a slot of its concurrency key frees (see `concurrency.rs`): the rendered
    /// `key` stored, the time it was queued set (admission takes the oldest first), error and
    /// `finished_at` cleared; its tasks are left as they are (its start or retry is decided
    /// again when it is admitted).
    Queue { key: String, limit: u32 },
}

impl Transition {
    fn new(
        workflow: &Workflow,
        to: WorkflowStatus,
        effect: Effect,
        event: EventKind,
    ) -> Result<Self, DomainError> {
        workflow.status.transition(to)?;
        Ok(Self {
            workflow_id: workflow.id,
            from: workflow.status,
            to,
            effect,
            events: vec![NewEvent::new(workflow.id, event)],
        })
    }

    /// Parks the workflow, from `self.from`, until its concurrency key has a free slot.
    pub(crate) fn parked(&self, key: String, limit: u32) -> Result<Self, DomainError> {
        self.from.transition(WorkflowStatus::Queued)?;
        Ok(Self {
            workflow_id: self.workflow_id,
            from: self.from,
            to: WorkflowStatus::Queued,
            effect: Effect::Queue {
                key: key.clone(),
                limit,
            },
            events: vec![NewEvent::new(
                self.workflow_id,
                EventKind::WorkflowQueued { key, limit },
            )],
        })
    }

    /// Whether applying it makes tasks runnable.
    pub fn queues_work(&self) -> bool {
        matches!(self.effect, Effect::Start { .. } | Effect::Retry { .. })
    }
}

/// The start of a workflow in `status` with `tasks` (in position order): a pending one, or
/// a queued one being admitted.
fn start(
    workflow_id: WorkflowId,
    status: WorkflowStatus,
    tasks: &[GraphTask<'_>],
) -> Result<Transition, DomainError> {
    if !matches!(status, WorkflowStatus::Pending | WorkflowStatus::Queued) {
        return Err(DomainError::conflict(format!(
            "the workflow is {status}; only a pending workflow can be started"
        )));
    }
    let graph = Graph::build(tasks).map_err(|problems| {
        DomainError::Invalid(
            problems
                .into_iter()
                .map(|p| FieldError::new(format!("tasks[{}].depends_on", p.position), p.message))
                .collect(),
        )
    })?;
    let Some(output_task) = graph.output_task() else {
        return Err(DomainError::conflict("the workflow has no tasks to run"));
    };
    let to = status.transition(WorkflowStatus::Running)?;
    Ok(Transition {
        workflow_id,
        from: status,
        to,
        effect: Effect::Start {
            queue: graph.roots(),
            wiring: graph.wiring(),
            output_task,
        },
        events: vec![NewEvent::new(
            workflow_id,
            EventKind::WorkflowStarted { retry: false },
        )],
    })
}

impl NewWorkflow {
    /// Starts the workflow as it is created (`start: true`).
    pub fn start(&self) -> Result<Transition, DomainError> {
        let tasks: Vec<GraphTask<'_>> = self
            .tasks()
            .iter()
            .map(|t| GraphTask {
                id: t.id(),
                key: t.key().map(|k| k.as_str()),
                depends_on: t.depends_on(),
            })
            .collect();
        start(self.id(), WorkflowStatus::Pending, &tasks)
    }
}

impl Workflow {
    /// Starts a pending workflow: the tasks that need nothing are queued. `Conflict` unless
    /// pending, or when it has no tasks.
    pub fn start(&self) -> Result<Transition, DomainError> {
        if self.status == WorkflowStatus::Queued {
            return Err(DomainError::conflict(
                "the workflow is queued: it starts when its concurrency key has a free slot",
            ));
        }
        self.start_from_any()
    }

    /// The start of a pending workflow, or of a queued one being admitted.
    pub(crate) fn start_from_any(&self) -> Result<Transition, DomainError> {
        let mut ordered: Vec<&crate::Task> = self.tasks.iter().collect();
        ordered.sort_by_key(|t| t.position);
        let tasks: Vec<GraphTask<'_>> = ordered
            .iter()
            .map(|t| GraphTask {
                id: t.id,
                key: t.key.as_deref(),
                depends_on: t.depends_on.as_deref(),
            })
            .collect();
        start(self.id, self.status, &tasks)
    }

    /// Cancels a pending, queued or running workflow and its unfinished tasks. `Conflict` when
    /// it has finished (a failed workflow is retried or deleted instead).
    pub fn cancel(&self) -> Result<Transition, DomainError> {
        if !self.status.can_become(WorkflowStatus::Cancelled) {
            return Err(DomainError::conflict(format!(
                "the workflow is {}; only a pending, queued or running workflow can be cancelled",
                self.status
            )));
        }
        Transition::new(
            self,
            WorkflowStatus::Cancelled,
            Effect::Cancel {
                parent_task: self.parent_task_id,
            },
            EventKind::WorkflowCancelled,
        )
    }

    /// Whether a paused workflow may be resumed (its pause cleared, the tasks its budget
    /// parked queued again: a store applies it, only while it is still paused). `Conflict`
    /// unless paused. A budget still too small pauses it again at its next call.
    pub fn unpause(&self) -> Result<(), DomainError> {
        if self.status != WorkflowStatus::Paused {
            return Err(DomainError::conflict(format!(
                "the workflow is {}; only a paused workflow can be resumed",
                self.status
            )));
        }
        Ok(())
    }

    /// Resumes a failed workflow from its failed tasks with a fresh attempt budget; completed
    /// tasks are not run again. `Conflict` unless failed.
    pub fn retry(&self) -> Result<Transition, DomainError> {
        if self.status != WorkflowStatus::Failed {
            return Err(DomainError::conflict(format!(
                "the workflow is {}; only a failed workflow can be retried",
                self.status
            )));
        }
        self.resume()
    }

    /// The resumption of a failed workflow, or of a queued one (retried beyond its key's
    /// limit) being admitted: its failed and cancelled tasks and elements queued again.
    pub(crate) fn resume(&self) -> Result<Transition, DomainError> {
        let requeue: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|t| matches!(t.status, TaskStatus::Failed | TaskStatus::Cancelled))
            .map(|t| t.id)
            .chain(self.elements_to_retry.iter().copied())
            .collect();
        Transition::new(
            self,
            WorkflowStatus::Running,
            Effect::Retry { requeue },
            EventKind::WorkflowStarted { retry: true },
        )
    }
}
