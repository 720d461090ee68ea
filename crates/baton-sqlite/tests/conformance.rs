//! The store conformance suite (`baton-conformance`) run against SQLite: every contract on a
//! fresh file in a temporary directory of its own, removed when the test ends. Then what only
//! this adapter promises: the file's settings, lists at a constant number of statements, a
//! second store on the same file, and hostile values round-tripping exactly.

use async_trait::async_trait;
use baton_conformance::{Fresh, StoreFactory};
use baton_sqlite::{SqliteConfig, SqliteStore};
use tempfile::TempDir;

struct Sqlite;

/// A fresh store on `<temp dir>/nested/baton.db` (the directory is created by `open`).
async fn fresh() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("a temporary directory: {err}"));
    let path = dir.path().join("nested").join("baton.db");
    let store = SqliteStore::open(&path, SqliteConfig::default())
        .await
        .unwrap_or_else(|err| panic!("open {}: {err:#}", path.display()));
    (store, dir)
}

#[async_trait]
impl StoreFactory for Sqlite {
    type Store = SqliteStore;
    type Guard = TempDir;

    async fn store(&self) -> Fresh<SqliteStore, TempDir> {
        let (store, dir) = fresh().await;
        Fresh::new(store, dir)
    }
}

baton_conformance::conformance_tests!(Sqlite);

mod sqlite;
