//! Which store the test apps run on: one parameter for the whole HTTP suite, never a copy of it.

use crate::TestDatabase;

/// A store the HTTP test suite can run against, chosen with `BATON_TEST_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh Postgres database per test on `BATON_TEST_DATABASE_URL`'s server.
    Postgres,
    /// A fresh SQLite file per test in a temporary directory (the default).
    Sqlite,
}

impl Backend {
    /// The backend `BATON_TEST_BACKEND` names (`sqlite` when unset); any other value fails the
    /// test run at once, naming the choices.
    pub fn from_env() -> Self {
        match std::env::var("BATON_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => Self::Sqlite,
            Ok("postgres") => Self::Postgres,
            Ok(other) => {
                panic!("BATON_TEST_BACKEND={other:?} is not a store; expected sqlite or postgres")
            }
        }
    }

    /// Whether instances sharing this store hear each other at once (Postgres LISTEN/NOTIFY).
    /// SQLite is one process's store: another process on the same file stays correct, but
    /// learns of changes only by polling.
    pub fn spans_instances(self) -> bool {
        self == Self::Postgres
    }

    /// A new, empty store of this backend for one test, removed when dropped.
    pub fn fresh_database(self) -> TestDatabase {
        match self {
            Self::Postgres => TestDatabase::postgres(),
            Self::Sqlite => TestDatabase::sqlite(),
        }
    }
}
