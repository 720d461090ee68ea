//! Translation of diesel and pool errors into the port's `StoreError`.
//!
//! Rule: nothing backend-specific leaves this crate. Unique violations become `Invalid` with the
//! field they concern, lost connections and pool time-outs become `Unavailable`, the rest
//! `Unknown` (logged by the caller, never shown to clients).

use baton_domain::DomainError;
use baton_domain::ports::StoreError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// An error inside a store operation: either already meaningful, or a raw diesel error.
#[derive(Debug)]
pub(crate) enum PgError {
    Store(StoreError),
    Diesel(DieselError),
    /// A descendant workflow's row is held by another transaction: roll back and try again
    /// (see `descendants.rs`).
    Busy,
}

impl From<DieselError> for PgError {
    fn from(err: DieselError) -> Self {
        Self::Diesel(err)
    }
}

impl From<StoreError> for PgError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<DomainError> for PgError {
    fn from(err: DomainError) -> Self {
        Self::Store(StoreError::Invalid(err))
    }
}

impl From<PgError> for StoreError {
    fn from(err: PgError) -> Self {
        match err {
            PgError::Store(err) => err,
            PgError::Diesel(err) => from_diesel(err),
            PgError::Busy => StoreError::Unavailable(anyhow::anyhow!(
                "a descendant workflow stayed locked by other transactions"
            )),
        }
    }
}

/// How Postgres words a statement it cancelled (SQLSTATE 57014), e.g. at `statement_timeout`.
const CANCELED: &str = "canceling statement due to";

pub(crate) fn from_diesel(err: DieselError) -> StoreError {
    match &err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("tasks_workflow_key_key") =>
        {
            StoreError::Invalid(DomainError::invalid(
                "key",
                "is already used by another task of this workflow",
            ))
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | DieselError::BrokenTransactionManager => StoreError::Unavailable(err.into()),
        // `statement_timeout` (or a lock or user cancel): the database did not answer in time.
        DieselError::DatabaseError(_, info) if info.message().starts_with(CANCELED) => {
            StoreError::Unavailable(err.into())
        }
        _ => StoreError::Unknown(err.into()),
    }
}

pub(crate) fn from_pool(err: diesel_async::pooled_connection::deadpool::PoolError) -> StoreError {
    StoreError::Unavailable(anyhow::Error::new(err).context("no database connection"))
}

pub(crate) type PgResult<T> = Result<T, PgError>;

impl From<anyhow::Error> for PgError {
    fn from(err: anyhow::Error) -> Self {
        Self::Store(StoreError::Unknown(err))
    }
}
