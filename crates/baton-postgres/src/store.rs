use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use baton_domain::ports::{
    Page, PageRequest, Scope, StoreError, TaskFilter, WorkflowFilter, WorkflowStore,
};
use baton_domain::{
    NewTask, NewWorkflow, Task, TaskId, TaskPatch, Workflow, WorkflowId, WorkflowPatch,
};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};

use crate::error::from_pool;
use crate::pool::{PgConfig, build_pool};
use crate::{tasks, workflows};

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
impl WorkflowStore for PgStore {
    async fn create_workflow(&self, workflow: NewWorkflow) -> Result<Workflow, StoreError> {
        workflows::create(&mut *self.conn().await?, &workflow).await
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

    async fn update_workflow(
        &self,
        scope: Scope,
        id: WorkflowId,
        patch: WorkflowPatch,
        expected_version: Option<i32>,
    ) -> Result<Workflow, StoreError> {
        workflows::update(
            &mut *self.conn().await?,
            scope,
            id,
            &patch,
            expected_version,
        )
        .await
    }

    async fn delete_workflow(
        &self,
        scope: Scope,
        id: WorkflowId,
        expected_version: Option<i32>,
    ) -> Result<(), StoreError> {
        workflows::delete(&mut *self.conn().await?, scope, id, expected_version).await
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

    async fn add_task(
        &self,
        scope: Scope,
        workflow_id: WorkflowId,
        position: Option<i32>,
        task: NewTask,
    ) -> Result<Task, StoreError> {
        tasks::add(
            &mut *self.conn().await?,
            scope,
            workflow_id,
            position,
            &task,
        )
        .await
    }

    async fn update_task(
        &self,
        scope: Scope,
        id: TaskId,
        patch: TaskPatch,
        expected_version: Option<i32>,
    ) -> Result<Task, StoreError> {
        tasks::update(
            &mut *self.conn().await?,
            scope,
            id,
            &patch,
            expected_version,
        )
        .await
    }

    async fn delete_task(
        &self,
        scope: Scope,
        id: TaskId,
        expected_version: Option<i32>,
    ) -> Result<(), StoreError> {
        tasks::delete(&mut *self.conn().await?, scope, id, expected_version).await
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
