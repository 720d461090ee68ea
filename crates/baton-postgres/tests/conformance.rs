//! The store conformance suite (`baton-conformance`) run against Postgres: every contract in
//! its own fresh database, created and migrated for the test and dropped after it.

mod stores;
mod support;

use async_trait::async_trait;
use baton_conformance::{Fresh, StoreFactory};
use baton_postgres::PgStore;
use support::Database;

struct Postgres;

#[async_trait]
impl StoreFactory for Postgres {
    type Store = PgStore;
    type Guard = Database;

    async fn store(&self) -> Fresh<PgStore, Database> {
        let (store, database) = support::fresh_store().await;
        Fresh::new(store, database)
    }

    async fn available(&self) -> bool {
        support::available().await
    }
}

baton_conformance::conformance_tests!(Postgres);
