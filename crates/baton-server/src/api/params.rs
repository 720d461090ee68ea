//! Parameters shared by many operations, as the OpenAPI document describes them. The handlers
//! read them elsewhere (`paging.rs`, `preconditions.rs`, the idempotency layer), with the checks
//! and error messages of their own; these types only describe them.
#![expect(
    dead_code,
    reason = "they describe parameters; nothing reads their fields"
)]

use utoipa::IntoParams;

/// The paging of every list: keyset pagination, newest first.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// How many items to answer, 1 to 100 (else 400).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page, as it was returned (a cursor of another list: 400).
    #[param(value_type = String, required = false)]
    pub cursor: Option<String>,
}

/// `Idempotency-Key` on a POST: the same request again under the same key gets the stored
/// answer (with `Idempotent-Replayed: true`).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1 to 255 visible ASCII characters, chosen by the client (a UUID is fine); kept 24 h.
    /// A different request under a used key: 422; the first still running: 409.
    #[param(
        rename = "Idempotency-Key",
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]{1,255}$",
        example = "5f0c2a8e-6f51-4c1e-9a43-0d6b7f1e2c3a"
    )]
    pub key: Option<String>,
}

/// `If-Match` on a change: apply it only to this version (else 412).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// The `ETag` of the version the change is meant for, like `"3"` (or `*`).
    #[param(
        rename = "If-Match",
        value_type = String,
        required = false,
        example = "\"3\""
    )]
    pub tag: Option<String>,
}

/// `If-None-Match` on a read: 304 without a body while the version is still this one.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfNoneMatch {
    /// `ETag`s the client holds, like `"3"`.
    #[param(
        rename = "If-None-Match",
        value_type = String,
        required = false,
        example = "\"3\""
    )]
    pub tags: Option<String>,
}
