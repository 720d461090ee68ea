//! The use cases: what the HTTP API (or an embedding service) can do with workflows and tasks.
//!
//! Each change reads the workflow, lets the domain decide ([`Workflow::start`],
//! [`Workflow::patch`], [`Workflow::add_task`], …) and has the store apply the decision only
//! while the workflow is as it was read. When it changed meanwhile (`Stale`), the use case reads
//! and decides again, a few times at most. Ownership is decided here too: reads take the
//! caller's [`Scope`], and a change starts with a read in that scope.
//!
//! Before a workflow is created or its tasks are changed, its templates and jq programs are
//! checked ([`crate::check`]): a problem is `Invalid` with one field error per problem, and
//! nothing is stored.
//!
//! A workflow with a concurrency key is started, retried and cancelled through admission
//! (`service/keyed.rs`, [`Admissions`]).

mod keyed;

use std::sync::Arc;

use baton_domain::ports::{
    Page, PageRequest, Scope, Signal, Signals, StoreError, TaskFilter, WorkflowFilter,
    WorkflowStore,
};
use baton_domain::{
    DomainError, Edit, Effect, NewSignal, NewTask, NewWorkflow, ReceivedSignal, SignalName, Task,
    TaskId, TaskPatch, Transition, Workflow, WorkflowId, WorkflowPatch, WorkflowStatus,
};
use serde_json::Value;

use crate::admission::Admissions;
use crate::secrets::Secrets;
use crate::validation;

/// How often a change is decided again when the workflow changed under it.
const ATTEMPTS: usize = 5;

/// The use cases over workflows and their tasks. Cheap to clone.
#[derive(Clone)]
pub struct Workflows {
    store: Arc<dyn WorkflowStore>,
    signals: Arc<dyn Signals>,
    /// Whether a language model is configured (`llm` tasks are refused otherwise).
    llm_configured: bool,
    /// Where the secrets templates name are looked up; `None`: there are none.
    secrets: Option<Secrets>,
    admissions: Admissions,
}

fn busy() -> StoreError {
    StoreError::Conflict("the workflow kept changing while this change was made; try again".into())
}

impl Workflows {
    /// `llm_configured`: whether `llm` tasks have a model to call; when not, workflows with
    /// one are refused, naming the variables to set.
    pub fn new(
        store: Arc<dyn WorkflowStore>,
        signals: Arc<dyn Signals>,
        llm_configured: bool,
    ) -> Self {
        let admissions = Admissions::new(store.clone(), signals.clone());
        Self {
            store,
            signals,
            llm_configured,
            secrets: None,
            admissions,
        }
    }

    /// The admission of queued workflows over the same store.
    pub fn admissions(&self) -> &Admissions {
        &self.admissions
    }

    /// Templates may name the secrets of a workflow's owner (`{{ secrets.NAME }}`): each named
    /// secret must exist when the workflow is created or its task is written.
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Whether `workflow` would be created: its templates, jq programs and task types are
    /// checked as [`Workflows::create`] checks them. Stores nothing.
    pub async fn validate(&self, workflow: &NewWorkflow) -> Result<(), StoreError> {
        validation::new_workflow(workflow, self.llm_configured, self.secrets.as_ref()).await
    }

    /// Checks and stores a workflow; with `start`, it is started in the same transaction (one
    /// with a concurrency key is stored, then started as [`Workflows::start`] starts it: its
    /// key is rendered first, so a key that does not render stores nothing).
    #[tracing::instrument(skip_all, fields(workflow_id = %workflow.id()))]
    pub async fn create(&self, workflow: NewWorkflow, start: bool) -> Result<Workflow, StoreError> {
        self.validate(&workflow).await?;
        if start && let Some(concurrency) = workflow.concurrency() {
            workflow.start()?;
            crate::concurrency_key::render(concurrency, workflow.input())?;
            self.store.create_workflow(&workflow, None).await?;
            return self.start(Scope::All, workflow.id()).await;
        }
        let transition = start.then(|| workflow.start()).transpose()?;
        self.store
            .create_workflow(&workflow, transition.as_ref())
            .await?;
        if let Some(transition) = &transition {
            self.signal(transition);
        }
        self.store.get_workflow(Scope::All, workflow.id()).await
    }

    pub async fn get(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError> {
        self.store.get_workflow(scope, id).await
    }

    pub async fn list(
        &self,
        scope: Scope,
        filter: WorkflowFilter,
        page: PageRequest,
    ) -> Result<Page<Workflow>, StoreError> {
        self.store.list_workflows(scope, filter, page).await
    }

    /// Starts a pending workflow; one with a concurrency key whose limit is reached is queued.
    #[tracing::instrument(skip_all, fields(workflow_id = %id))]
    pub async fn start(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError> {
        self.transition(scope, id, Workflow::start).await
    }

    /// Cancels a workflow; when it was running with a concurrency key, admits for the key.
    #[tracing::instrument(skip_all, fields(workflow_id = %id))]
    pub async fn cancel(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError> {
        self.transition(scope, id, Workflow::cancel).await
    }

    /// Retries a failed workflow; one with a concurrency key whose limit is reached is queued.
    #[tracing::instrument(skip_all, fields(workflow_id = %id))]
    pub async fn retry(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError> {
        self.transition(scope, id, Workflow::retry).await
    }

    /// Resumes a paused workflow: the `llm` tasks its budget parked run again (see
    /// [`Workflow::unpause`]).
    #[tracing::instrument(skip_all, fields(workflow_id = %id))]
    pub async fn resume(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError> {
        let workflow = self.store.get_workflow(scope, id).await?;
        workflow.unpause()?;
        if !self.store.resume_paused(id).await? {
            return Err(StoreError::Conflict(
                "the workflow is no longer paused".into(),
            ));
        }
        self.signals.publish(Signal::EventsAppended(id));
        self.signals.publish(Signal::WorkQueued);
        self.store.get_workflow(Scope::All, id).await
    }

    /// Renames a pending workflow or changes its input; `expected` is the caller's version.
    #[tracing::instrument(skip_all, fields(workflow_id = %id))]
    pub async fn patch(
        &self,
        scope: Scope,
        id: WorkflowId,
        patch: WorkflowPatch,
        expected: Option<i32>,
    ) -> Result<Workflow, StoreError> {
        let empty = patch.is_empty();
        if let Some(Some(concurrency)) = &patch.concurrency {
            validation::concurrency(concurrency)?;
        }
        self.edit(scope, id, |workflow| {
            let edit = workflow.patch(patch.clone(), expected)?;
            // An empty patch is allowed (a pending workflow, the right version) and changes
            // nothing, not even the version.
            Ok((!empty).then_some(edit))
        })
        .await?;
        self.store.get_workflow(Scope::All, id).await
    }

    #[tracing::instrument(skip_all, fields(workflow_id = %id))]
    pub async fn delete(
        &self,
        scope: Scope,
        id: WorkflowId,
        expected: Option<i32>,
    ) -> Result<(), StoreError> {
        self.edit(scope, id, |workflow| workflow.delete(expected).map(Some))
            .await
    }

    /// Sends the signal `name` to the workflow: kept until a `wait` for it consumes it, and
    /// waking the waits parked for it. A finished workflow takes none (409).
    #[tracing::instrument(skip_all, fields(workflow_id = %id, signal = %name.as_str()))]
    pub async fn send_signal(
        &self,
        scope: Scope,
        id: WorkflowId,
        name: SignalName,
        payload: Value,
    ) -> Result<ReceivedSignal, StoreError> {
        for _ in 0..ATTEMPTS {
            let workflow = self.store.get_workflow(scope, id).await?;
            let signal = NewSignal::to(&workflow, name.clone(), payload.clone())?;
            match self.store.send_signal(&signal, workflow.status).await {
                Ok(received) => {
                    self.signals.publish(Signal::EventsAppended(id));
                    self.signals.publish(Signal::WorkQueued);
                    return Ok(received);
                }
                Err(StoreError::Stale(_)) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(busy())
    }

    /// The workflow's signals, oldest first.
    pub async fn list_signals(
        &self,
        scope: Scope,
        id: WorkflowId,
    ) -> Result<Vec<ReceivedSignal>, StoreError> {
        self.store.list_signals(scope, id).await
    }

    pub async fn get_task(&self, scope: Scope, id: TaskId) -> Result<Task, StoreError> {
        self.store.get_task(scope, id).await
    }

    pub async fn list_tasks(
        &self,
        scope: Scope,
        filter: TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>, StoreError> {
        self.store.list_tasks(scope, filter, page).await
    }

    /// Adds a checked task to a pending workflow at `position` (the end when `None`).
    #[tracing::instrument(skip_all, fields(workflow_id = %workflow_id, task_id = %task.id()))]
    pub async fn add_task(
        &self,
        scope: Scope,
        workflow_id: WorkflowId,
        position: Option<i32>,
        task: NewTask,
    ) -> Result<Task, StoreError> {
        let id = task.id();
        self.edit(scope, workflow_id, |workflow| {
            workflow.add_task(task.clone(), position).map(Some)
        })
        .await?;
        self.store.get_task(Scope::All, id).await
    }

    /// Changes (or moves) a task of a pending workflow; `expected` is the caller's version of
    /// the task.
    #[tracing::instrument(skip_all, fields(task_id = %id))]
    pub async fn update_task(
        &self,
        scope: Scope,
        id: TaskId,
        patch: TaskPatch,
        expected: Option<i32>,
    ) -> Result<Task, StoreError> {
        let task = self.store.get_task(scope, id).await?;
        self.edit(Scope::All, task.workflow_id, |workflow| {
            workflow.update_task(id, &patch, expected).map(Some)
        })
        .await?;
        self.store.get_task(Scope::All, id).await
    }

    #[tracing::instrument(skip_all, fields(task_id = %id))]
    pub async fn delete_task(
        &self,
        scope: Scope,
        id: TaskId,
        expected: Option<i32>,
    ) -> Result<(), StoreError> {
        let task = self.store.get_task(scope, id).await?;
        self.edit(Scope::All, task.workflow_id, |workflow| {
            workflow.delete_task(id, expected).map(Some)
        })
        .await
    }

    async fn transition(
        &self,
        scope: Scope,
        id: WorkflowId,
        decide: fn(&Workflow) -> Result<Transition, DomainError>,
    ) -> Result<Workflow, StoreError> {
        for _ in 0..ATTEMPTS {
            let workflow = self.store.get_workflow(scope, id).await?;
            let transition = decide(&workflow)?;
            let applied = match &workflow.concurrency {
                Some(concurrency) if transition.to == WorkflowStatus::Running => {
                    self.keyed_start(&workflow, concurrency, transition).await
                }
                _ => self.store.apply_transition(&transition).await.map(|()| {
                    self.signal(&transition);
                }),
            };
            match applied {
                Ok(()) => {
                    self.after_transition(&workflow).await;
                    return self.store.get_workflow(Scope::All, id).await;
                }
                Err(StoreError::Stale(_)) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(busy())
    }

    /// Decides an edit on the workflow as read, checks what it does to the workflow's tasks,
    /// and applies it; `None` means nothing to do.
    async fn edit(
        &self,
        scope: Scope,
        id: WorkflowId,
        decide: impl Fn(&Workflow) -> Result<Option<Edit>, DomainError>,
    ) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let workflow = self.store.get_workflow(scope, id).await?;
            let Some(edit) = decide(&workflow)? else {
                return Ok(());
            };
            validation::edit(&workflow, &edit, self.llm_configured, self.secrets.as_ref()).await?;
            match self.store.apply_edit(&edit).await {
                Err(StoreError::Stale(_)) => continue,
                other => return other,
            }
        }
        Err(busy())
    }

    /// Tells this process what a transition changed (other instances hear it from the store).
    fn signal(&self, transition: &Transition) {
        self.signals
            .publish(Signal::EventsAppended(transition.workflow_id));
        match transition.effect {
            Effect::Start { .. } | Effect::Retry { .. } => self.signals.publish(Signal::WorkQueued),
            Effect::Queue { .. } => {}
            Effect::Cancel { parent_task } => {
                self.signals
                    .publish(Signal::WorkflowCancelled(transition.workflow_id));
                if parent_task.is_some() {
                    // The parent's waiting task was released: it may run now.
                    self.signals.publish(Signal::WorkQueued);
                }
            }
        }
    }
}
