use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use std::time::Duration;

use baton_domain::ports::{
    ConcurrencyStore, DocumentFilter, DocumentStore, EventLog, Page, PageRequest, Scope,
    StoreError, TaskFilter, TaskQueue, WorkflowFilter, WorkflowStore,
};
use baton_domain::{
    Admission, ChildOutcome, Claim, ConcurrencyKey, Document, Edit, ElementResult, Event, KeyState,
    LeaseToken, NewEvent, NewSignal, NewWorkflow, QueueStats, ReceivedSignal, StepApplied,
    StepCommit, StepResult, Task, TaskId, Transition, UserId, Workflow, WorkflowId, WorkflowStatus,
};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};

use crate::error::from_pool;
use crate::pool::{PgConfig, build_pool};
use crate::{
    concurrency, documents, edit, event_log, inbox, lifecycle, queue, steps, tasks, workflows,
};

/// The Postgres `WorkflowStore`. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    statements: Arc<AtomicU64>,
}

impl PgStore {
    /// A store over a new pool. Connections open lazily; call
    /// [`create_database_if_missing`](crate::create_database_if_missing) and
    /// [`run_migrations`](crate::run_migrations) first.
    pub fn connect(config: &PgConfig) -> anyhow::Result<Self> {
        let statements = Arc::new(AtomicU64::new(0));
        let pool = build_pool(config, statements.clone())?;
        Ok(Self { pool, statements })
    }

    /// How many SQL statements this store's connections have sent so far.
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub(crate) async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        self.pool.get().await.map_err(from_pool)
    }
}

#[async_trait]
impl ConcurrencyStore for PgStore {
    async fn key_state(
        &self,
        owner: UserId,
        key: &ConcurrencyKey,
        max: u32,
    ) -> Result<KeyState, StoreError> {
        concurrency::key_state(&mut *self.conn().await?, owner, key, max).await
    }

    async fn admit(&self, admission: &Admission) -> Result<(), StoreError> {
        concurrency::admit(&mut *self.conn().await?, admission).await
    }

    async fn queued_keys(&self, limit: u32) -> Result<Vec<(UserId, ConcurrencyKey)>, StoreError> {
        concurrency::queued_keys(&mut *self.conn().await?, limit).await
    }
}

#[async_trait]
impl WorkflowStore for PgStore {
    async fn create_workflow(
        &self,
        workflow: &NewWorkflow,
        start: Option<&Transition>,
    ) -> Result<(), StoreError> {
        workflows::create(&mut *self.conn().await?, workflow, start).await
    }

    async fn apply_transition(&self, transition: &Transition) -> Result<(), StoreError> {
        lifecycle::apply(&mut *self.conn().await?, transition).await
    }

    async fn apply_edit(&self, edit: &Edit) -> Result<(), StoreError> {
        edit::apply(&mut *self.conn().await?, edit).await
    }

    async fn resume_paused(&self, workflow: WorkflowId) -> Result<bool, StoreError> {
        Ok(crate::budget::resume(&mut *self.conn().await?, workflow).await?)
    }

    async fn get_workflow(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError> {
        workflows::get(&mut *self.conn().await?, scope, id).await
    }

    async fn list_workflows(
        &self,
        scope: Scope,
        filter: WorkflowFilter,
        page: PageRequest,
    ) -> Result<Page<Workflow>, StoreError> {
        workflows::list(&mut *self.conn().await?, scope, filter, page).await
    }

    async fn list_tasks(
        &self,
        scope: Scope,
        filter: TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>, StoreError> {
        tasks::list(&mut *self.conn().await?, scope, filter, page).await
    }

    async fn get_task(&self, scope: Scope, id: TaskId) -> Result<Task, StoreError> {
        tasks::get(&mut *self.conn().await?, scope, id).await
    }

    async fn send_signal(
        &self,
        signal: &NewSignal,
        expected: WorkflowStatus,
    ) -> Result<ReceivedSignal, StoreError> {
        inbox::send(&mut *self.conn().await?, signal, expected).await
    }

    async fn list_signals(
        &self,
        scope: Scope,
        workflow_id: WorkflowId,
    ) -> Result<Vec<ReceivedSignal>, StoreError> {
        inbox::list(&mut *self.conn().await?, scope, workflow_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        use diesel_async::RunQueryDsl;
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|err| StoreError::Unavailable(err.into()))
    }
}

#[async_trait]
impl TaskQueue for PgStore {
    async fn claim(
        &self,
        tokens: &[LeaseToken],
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        queue::claim(&mut *self.conn().await?, tokens, lease).await
    }

    async fn steps_before(
        &self,
        workflow_id: WorkflowId,
        position: i32,
    ) -> Result<Vec<StepResult>, StoreError> {
        queue::steps_before(&mut *self.conn().await?, workflow_id, position).await
    }

    async fn child_outcome(&self, child: WorkflowId) -> Result<ChildOutcome, StoreError> {
        queue::child_outcome(&mut *self.conn().await?, child).await
    }

    async fn element_results(&self, parent: TaskId) -> Result<Vec<ElementResult>, StoreError> {
        queue::element_results(&mut *self.conn().await?, parent).await
    }

    async fn next_signal(
        &self,
        workflow_id: WorkflowId,
        name: &str,
    ) -> Result<Option<ReceivedSignal>, StoreError> {
        inbox::next(&mut *self.conn().await?, workflow_id, name).await
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError> {
        queue::heartbeat(&mut *self.conn().await?, claim, lease).await
    }

    async fn apply_step(&self, step: &StepCommit) -> Result<StepApplied, StoreError> {
        steps::apply_step(&mut *self.conn().await?, step).await
    }

    async fn apply_steps(&self, steps: &[&StepCommit]) -> Vec<Result<StepApplied, StoreError>> {
        match self.conn().await {
            Ok(mut conn) => steps::apply_steps(&mut conn, steps).await,
            Err(err) => {
                let cause = format!("{:#}", anyhow::Error::new(err));
                steps
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(anyhow::anyhow!("{cause}"))))
                    .collect()
            }
        }
    }

    async fn append_held(&self, claim: &Claim, event: &NewEvent) -> Result<bool, StoreError> {
        queue::append_held(&mut *self.conn().await?, claim, event).await
    }

    async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        queue::release(&mut *self.conn().await?, claim).await
    }

    async fn expired(&self, limit: u32) -> Result<Vec<Claim>, StoreError> {
        queue::expired(&mut *self.conn().await?, limit).await
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        crate::queue_stats::queue_stats(&mut *self.conn().await?).await
    }
}

#[async_trait]
impl EventLog for PgStore {
    async fn events_after(
        &self,
        workflow_id: WorkflowId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        event_log::after(&mut *self.conn().await?, workflow_id, after, limit).await
    }

    async fn last_event_id(&self, workflow_id: WorkflowId) -> Result<i64, StoreError> {
        event_log::last_id(&mut *self.conn().await?, workflow_id).await
    }
}

#[async_trait]
impl DocumentStore for PgStore {
    async fn list_documents(
        &self,
        scope: Scope,
        filter: DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<Document>, StoreError> {
        documents::list(&mut *self.conn().await?, scope, filter, page).await
    }

    async fn get_document(&self, scope: Scope, id: uuid::Uuid) -> Result<Document, StoreError> {
        documents::get(&mut *self.conn().await?, scope, id).await
    }
}
