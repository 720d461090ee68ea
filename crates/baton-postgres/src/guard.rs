//! What a guarded change that matched no row means.

use baton_domain::ports::StoreError;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::PgError;
use crate::schema::workflows;

/// Why a guarded change matched no row: the workflow changed (`Stale`) or is gone.
pub(crate) async fn stale_or_missing(conn: &mut AsyncPgConnection, id: Uuid) -> PgError {
    let exists = workflows::table
        .find(id)
        .select(workflows::id)
        .first::<Uuid>(conn)
        .await
        .optional();
    match exists {
        Ok(Some(_)) => StoreError::Stale("workflow").into(),
        Ok(None) => StoreError::NotFound("workflow").into(),
        Err(err) => err.into(),
    }
}
