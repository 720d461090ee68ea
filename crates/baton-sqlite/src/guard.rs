//! What a guarded change that matched no row means.

use baton_domain::ports::StoreError;
use diesel::SqliteConnection;
use diesel::prelude::*;

use crate::error::SqlError;
use crate::schema::workflows;

/// Why a guarded change of workflow `id` matched no row: it changed (`Stale`) or is gone.
pub(crate) fn stale_or_missing(conn: &mut SqliteConnection, id: &str) -> SqlError {
    let exists = workflows::table
        .find(id)
        .select(workflows::id)
        .first::<String>(conn)
        .optional();
    match exists {
        Ok(Some(_)) => StoreError::Stale("workflow").into(),
        Ok(None) => StoreError::NotFound("workflow").into(),
        Err(err) => err.into(),
    }
}
