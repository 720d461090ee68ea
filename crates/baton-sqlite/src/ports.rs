//! The workflow, queue, event and document ports on `SqliteStore`: each call clones what it
//! needs and runs on the blocking pool (writes in `BEGIN IMMEDIATE`, multi-statement reads in
//! one read transaction).

use std::time::Duration;

use async_trait::async_trait;
use baton_domain::ports::{
    ConcurrencyStore, DocumentFilter, DocumentStore, EventLog, Page, PageRequest, Scope,
    StoreError, TaskFilter, TaskQueue, WorkflowFilter, WorkflowStore,
};
use baton_domain::{
    Admission, ChildOutcome, Claim, ConcurrencyKey, Document, Edit, ElementResult, Event, KeyState,
    LeaseToken, NewEvent, NewSignal, NewWorkflow, QueueStats, ReceivedSignal, StepApplied,
    StepCommit, StepResult, Task, TaskId, Transition, UserId, Workflow, WorkflowId, WorkflowStatus,
};
use diesel::{Connection, RunQueryDsl};

use crate::store::SqliteStore;
use crate::{
    claims, concurrency, documents, edit, events, inbox, lifecycle, queue, steps, tasks, workflows,
};

#[async_trait]
impl ConcurrencyStore for SqliteStore {
    async fn key_state(
        &self,
        owner: UserId,
        key: &ConcurrencyKey,
        max: u32,
    ) -> Result<KeyState, StoreError> {
        let key = key.clone();
        self.snapshot(move |conn| concurrency::key_state(conn, owner, &key, max))
            .await
    }

    async fn admit(&self, admission: &Admission) -> Result<(), StoreError> {
        let admission = admission.clone();
        self.write(move |conn| concurrency::admit(conn, &admission))
            .await
    }

    async fn queued_keys(&self, limit: u32) -> Result<Vec<(UserId, ConcurrencyKey)>, StoreError> {
        self.read(move |conn| concurrency::queued_keys(conn, limit))
            .await
    }
}

#[async_trait]
impl WorkflowStore for SqliteStore {
    async fn create_workflow(
        &self,
        workflow: &NewWorkflow,
        start: Option<&Transition>,
    ) -> Result<(), StoreError> {
        let (workflow, start) = (workflow.clone(), start.cloned());
        self.write(move |conn| workflows::create(conn, &workflow, start.as_ref()))
            .await
    }

    async fn apply_transition(&self, transition: &Transition) -> Result<(), StoreError> {
        let transition = transition.clone();
        self.write(move |conn| lifecycle::apply(conn, &transition))
            .await
    }

    async fn apply_edit(&self, edit: &Edit) -> Result<(), StoreError> {
        let edit = edit.clone();
        self.write(move |conn| edit::apply(conn, &edit)).await
    }

    async fn resume_paused(&self, workflow: WorkflowId) -> Result<bool, StoreError> {
        self.write(move |conn| crate::budget::resume(conn, workflow))
            .await
    }

    async fn get_workflow(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError> {
        self.snapshot(move |conn| workflows::get(conn, scope, id))
            .await
    }

    async fn list_workflows(
        &self,
        scope: Scope,
        filter: WorkflowFilter,
        page: PageRequest,
    ) -> Result<Page<Workflow>, StoreError> {
        self.snapshot(move |conn| workflows::list(conn, scope, filter, page))
            .await
    }

    async fn list_tasks(
        &self,
        scope: Scope,
        filter: TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>, StoreError> {
        self.snapshot(move |conn| tasks::list(conn, scope, filter, page))
            .await
    }

    async fn get_task(&self, scope: Scope, id: TaskId) -> Result<Task, StoreError> {
        self.read(move |conn| tasks::get(conn, scope, id)).await
    }

    async fn send_signal(
        &self,
        signal: &NewSignal,
        expected: WorkflowStatus,
    ) -> Result<ReceivedSignal, StoreError> {
        let signal = signal.clone();
        self.write(move |conn| inbox::send(conn, &signal, expected))
            .await
    }

    async fn list_signals(
        &self,
        scope: Scope,
        workflow_id: WorkflowId,
    ) -> Result<Vec<ReceivedSignal>, StoreError> {
        self.snapshot(move |conn| inbox::list(conn, scope, workflow_id))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
        .map_err(|err| match err {
            StoreError::Unavailable(err) | StoreError::Unknown(err) => StoreError::Unavailable(err),
            other => other,
        })
    }
}

#[async_trait]
impl TaskQueue for SqliteStore {
    async fn claim(
        &self,
        tokens: &[LeaseToken],
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = tokens.to_vec();
        self.write(move |conn| claims::claim_queued(conn, &tokens, lease))
            .await
    }

    async fn steps_before(
        &self,
        workflow_id: WorkflowId,
        position: i32,
    ) -> Result<Vec<StepResult>, StoreError> {
        self.read(move |conn| queue::steps_before(conn, workflow_id, position))
            .await
    }

    async fn child_outcome(&self, child: WorkflowId) -> Result<ChildOutcome, StoreError> {
        self.read(move |conn| queue::child_outcome(conn, child))
            .await
    }

    async fn element_results(&self, parent: TaskId) -> Result<Vec<ElementResult>, StoreError> {
        self.read(move |conn| queue::element_results(conn, parent))
            .await
    }

    async fn next_signal(
        &self,
        workflow_id: WorkflowId,
        name: &str,
    ) -> Result<Option<ReceivedSignal>, StoreError> {
        let name = name.to_owned();
        self.read(move |conn| inbox::next(conn, workflow_id, &name))
            .await
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError> {
        let claim = claim.clone();
        self.write(move |conn| queue::heartbeat(conn, &claim, lease))
            .await
    }

    async fn apply_step(&self, step: &StepCommit) -> Result<StepApplied, StoreError> {
        let step = step.clone();
        self.write(move |conn| steps::apply(conn, &step)).await
    }

    /// One `BEGIN IMMEDIATE` transaction for the batch, each step in a savepoint of its own: a
    /// step that raises is rolled back alone, the others commit. One step alone needs no
    /// savepoint.
    async fn apply_steps(&self, steps: &[&StepCommit]) -> Vec<Result<StepApplied, StoreError>> {
        if let [step] = steps {
            return vec![self.apply_step(step).await];
        }
        let owned: Vec<StepCommit> = steps.iter().map(|step| (*step).clone()).collect();
        let count = owned.len();
        let applied = self
            .write(move |conn| {
                Ok(owned
                    .iter()
                    .map(|step| {
                        conn.transaction(|conn| steps::apply(conn, step))
                            .map_err(StoreError::from)
                    })
                    .collect::<Vec<_>>())
            })
            .await;
        match applied {
            Ok(each) => each,
            Err(err) => {
                let cause = format!("{:#}", anyhow::Error::new(err));
                (0..count)
                    .map(|_| Err(StoreError::Unavailable(anyhow::anyhow!("{cause}"))))
                    .collect()
            }
        }
    }

    async fn append_held(&self, claim: &Claim, event: &NewEvent) -> Result<bool, StoreError> {
        let (claim, event) = (claim.clone(), event.clone());
        self.write(move |conn| queue::append_held(conn, &claim, &event))
            .await
    }

    async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        let claim = claim.clone();
        self.write(move |conn| queue::release(conn, &claim)).await
    }

    async fn expired(&self, limit: u32) -> Result<Vec<Claim>, StoreError> {
        self.snapshot(move |conn| {
            let ids = claims::pick_expired(conn, limit)?;
            claims::load(conn, &ids)
        })
        .await
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        self.read(crate::queue_stats::queue_stats).await
    }
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn events_after(
        &self,
        workflow_id: WorkflowId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.read(move |conn| events::after(conn, workflow_id, after, limit))
            .await
    }

    async fn last_event_id(&self, workflow_id: WorkflowId) -> Result<i64, StoreError> {
        self.read(move |conn| events::last_id(conn, workflow_id))
            .await
    }
}

#[async_trait]
impl DocumentStore for SqliteStore {
    async fn list_documents(
        &self,
        scope: Scope,
        filter: DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<Document>, StoreError> {
        self.read(move |conn| documents::list(conn, scope, filter, page))
            .await
    }

    async fn get_document(&self, scope: Scope, id: uuid::Uuid) -> Result<Document, StoreError> {
        self.read(move |conn| documents::get(conn, scope, id)).await
    }
}
