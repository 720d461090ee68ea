//! Translation of diesel, SQLite and pool errors into the port's `StoreError`.
//!
//! Rule: nothing backend-specific leaves this crate. The task-key unique violation becomes
//! `Invalid` naming the field, a database still locked after the busy timeout (or no free
//! connection in time) becomes `Unavailable`, the rest `Unknown` (logged by the caller, never
//! shown to clients). SQLite names no constraint: its message names the columns.

use baton_domain::DomainError;
use baton_domain::ports::StoreError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// An error inside a store operation: either already meaningful, or a raw diesel error.
#[derive(Debug)]
pub(crate) enum SqlError {
    Store(StoreError),
    Diesel(DieselError),
}

pub(crate) type SqlResult<T> = Result<T, SqlError>;

impl From<DieselError> for SqlError {
    fn from(err: DieselError) -> Self {
        Self::Diesel(err)
    }
}

impl From<StoreError> for SqlError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<anyhow::Error> for SqlError {
    fn from(err: anyhow::Error) -> Self {
        Self::Store(StoreError::Unknown(err))
    }
}

impl From<SqlError> for StoreError {
    fn from(err: SqlError) -> Self {
        match err {
            SqlError::Store(err) => err,
            SqlError::Diesel(err) => from_diesel(err),
        }
    }
}

/// The message SQLite gives a unique violation of these columns.
pub(crate) fn violates_unique(err: &DieselError, columns: &str) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => info
            .message()
            .strip_prefix("UNIQUE constraint failed: ")
            .is_some_and(|named| named == columns),
        _ => false,
    }
}

/// SQLITE_BUSY ("database is locked") and SQLITE_LOCKED ("database table is locked"): another
/// connection held the lock for longer than the busy timeout.
fn is_busy(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            message.starts_with("database is locked")
                || message.starts_with("database table is locked")
        }
        _ => false,
    }
}

pub(crate) fn from_diesel(err: DieselError) -> StoreError {
    if violates_unique(&err, "tasks.workflow_id, tasks.key") {
        return StoreError::Invalid(DomainError::invalid(
            "key",
            "is already used by another task of this workflow",
        ));
    }
    if is_busy(&err) {
        return StoreError::Unavailable(anyhow::Error::new(err).context("the database is busy"));
    }
    match err {
        DieselError::BrokenTransactionManager => StoreError::Unavailable(err.into()),
        _ => StoreError::Unknown(err.into()),
    }
}

/// No connection in time (or none could be opened).
pub(crate) fn from_pool<E: std::fmt::Debug>(err: deadpool::managed::PoolError<E>) -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("no database connection: {err:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn task_key_violations_name_the_field() {
        let err = database(
            DatabaseErrorKind::UniqueViolation,
            "UNIQUE constraint failed: tasks.workflow_id, tasks.key",
        );
        match from_diesel(err) {
            StoreError::Invalid(DomainError::Invalid(fields)) => assert_eq!(fields[0].field, "key"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        let other = database(
            DatabaseErrorKind::UniqueViolation,
            "UNIQUE constraint failed: tasks.workflow_id, tasks.position",
        );
        assert!(matches!(from_diesel(other), StoreError::Unknown(_)));
    }

    #[test]
    fn a_locked_database_is_unavailable() {
        let err = database(DatabaseErrorKind::Unknown, "database is locked");
        assert!(matches!(from_diesel(err), StoreError::Unavailable(_)));
        let err = database(DatabaseErrorKind::Unknown, "no such table: tasks");
        assert!(matches!(from_diesel(err), StoreError::Unknown(_)));
    }
}
