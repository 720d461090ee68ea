//! The file: migrations, a second store on the same file (as a second process would be), a
//! lock held past the busy timeout.

use std::collections::HashSet;
use std::time::Duration;

use baton_conformance::support::{claim, create_started, started, transforms};
use baton_domain::ports::{StoreError, TaskQueue, WorkflowStore};
use baton_domain::{LeaseToken, TaskId, UserId};
use baton_sqlite::{SqliteConfig, SqliteStore, run_migrations};
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use crate::fresh;

#[tokio::test(flavor = "multi_thread")]
async fn migrations_run_once_and_open_creates_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("baton.db");
    assert_eq!(
        run_migrations(&path).await.unwrap(),
        8,
        "every migration on a new file"
    );
    assert_eq!(run_migrations(&path).await.unwrap(), 0, "none twice");
    let store = SqliteStore::open(&path, SqliteConfig::default())
        .await
        .unwrap();
    assert_eq!(store.path(), path);
    store.ping().await.unwrap();
    // WAL is a property of the file: any connection finds it on.
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(mode.journal_mode, "wal");
}

#[derive(diesel::QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    journal_mode: String,
}

/// Two stores on one file, claiming concurrently, each with its own pool and its own writer
/// queue (as two processes would): every task is claimed exactly once, and each store sees
/// what the other wrote.
#[tokio::test(flavor = "multi_thread")]
async fn two_stores_on_one_file_claim_exclusively() {
    let (first, dir) = fresh().await;
    let second = SqliteStore::open(first.path(), SqliteConfig::default())
        .await
        .unwrap();
    let owner = UserId::generate();
    let mut queued = HashSet::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { &first } else { &second };
        queued.insert(started(store, owner, 1).await.tasks()[0].id());
    }
    let claimers: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                let mut ids: Vec<TaskId> = Vec::new();
                loop {
                    let tokens: Vec<_> =
                        (0..3).map(|_| LeaseToken::new(&format!("w{i}"))).collect();
                    let claims = store.claim(&tokens, Duration::from_secs(60)).await.unwrap();
                    if claims.is_empty() {
                        return ids;
                    }
                    ids.extend(claims.iter().map(|c| c.task.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for claimer in futures_util::future::join_all(claimers).await {
        claimed.extend(claimer.unwrap());
    }
    assert_eq!(claimed.len(), 40, "none claimed twice");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), queued);
    assert!(claim(&second, "late", 2).await.is_empty());
    drop(dir);
}

/// A write lock held elsewhere past the busy timeout makes writes `Unavailable` (reads go on,
/// WAL); once it is released they succeed.
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_held_past_the_busy_timeout_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let config = SqliteConfig {
        busy_timeout: Duration::from_millis(200),
        ..SqliteConfig::default()
    };
    let store = SqliteStore::open(&path, config).await.unwrap();
    let mut other = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    other.batch_execute("BEGIN IMMEDIATE").unwrap();

    let new = transforms(UserId::generate(), "blocked", 1);
    let started = std::time::Instant::now();
    match store.create_workflow(&new, None).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "it waited for the lock"
    );
    store
        .ping()
        .await
        .expect("reads are not blocked by a writer");

    other.batch_execute("ROLLBACK").unwrap();
    create_started(&store, &new).await;
}
