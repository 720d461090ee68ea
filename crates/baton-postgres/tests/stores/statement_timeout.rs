//! `statement_timeout` on the pool's connections: a statement waiting on a lock another client
//! holds is cancelled at the limit and answers `Unavailable`, rather than holding its connection
//! (and its caller) for as long as the lock lasts; the connection goes back to the pool usable.

use crate::support;

use std::time::Duration;

use baton_conformance::support::{create, transforms};
use baton_domain::UserId;
use baton_domain::ports::{Scope, StoreError, WorkflowStore};
use baton_postgres::{PgConfig, PgStore};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_waiting_on_a_lock_past_the_statement_timeout_is_unavailable() {
    if !support::available().await {
        return;
    }
    let (setup, database) = support::fresh_store().await;
    let new = transforms(UserId::generate(), "held", 1);
    create(&setup, &new).await;
    let store = PgStore::connect(&PgConfig {
        max_connections: 1,
        statement_timeout: Some(Duration::from_millis(300)),
        ..PgConfig::new(&database.url)
    })
    .unwrap();

    let mut other = AsyncPgConnection::establish(&database.url).await.unwrap();
    diesel::sql_query("BEGIN")
        .execute(&mut other)
        .await
        .unwrap();
    diesel::sql_query("LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE")
        .execute(&mut other)
        .await
        .unwrap();
    // Without the limit this would wait for the lock, however long it is held.
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        store.get_workflow(Scope::All, new.id()),
    )
    .await
    .expect("ended by the statement timeout");
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");

    diesel::sql_query("ROLLBACK")
        .execute(&mut other)
        .await
        .unwrap();
    let read = store.get_workflow(Scope::All, new.id()).await.unwrap();
    assert_eq!(read.id, new.id());
}
