//! The JSON shapes of `/api/definitions`: what clients send, what they receive, and the query
//! parameters of the routes naming a definition.

use baton_domain::{ConcurrencyDefault, Definition, DefinitionDefaults, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Caller;
use super::concurrency::ConcurrencySpec;
use super::dto::{RetrySpec, TaskSpec};
use crate::error::ApiError;

/// What a definition fills in for its runs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    /// Merged under a run's input (the run's keys win; a shallow merge).
    #[schema(value_type = Option<Object>)]
    pub input: Option<Map<String, Value>>,
    /// The retry policy of tasks that set none.
    pub retry: Option<RetrySpec>,
    /// The time limit of tasks that set none, in milliseconds.
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub timeout_ms: Option<u64>,
    /// The concurrency key and limit of every run (as a workflow's `concurrency`).
    pub concurrency: Option<ConcurrencySpec>,
}

impl From<DefaultsSpec> for DefinitionDefaults {
    fn from(spec: DefaultsSpec) -> Self {
        Self {
            input: spec.input,
            retry: spec.retry.map(Into::into),
            timeout_ms: spec.timeout_ms,
            concurrency: spec.concurrency.map(|c| ConcurrencyDefault {
                key: c.key,
                limit: c.limit,
            }),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDefinition {
    /// 1 to 100 of `A-Z a-z 0-9 _ . -`; unique per owner.
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9_.-]+$")]
    pub name: String,
    #[schema(max_length = 2_000)]
    pub description: Option<String>,
    /// A JSON Schema every run's input (after the defaults) must satisfy.
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    pub defaults: Option<DefaultsSpec>,
    /// The tasks, as `POST /api/workflows` takes them: at least one, at most 1,000.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 1_000)]
    pub tasks: Vec<TaskSpec>,
}

/// A new version: the body of `POST /api/definitions`, its name optional (the path's).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutDefinition {
    /// When present, the path's name.
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9_.-]+$")]
    pub name: Option<String>,
    #[schema(max_length = 2_000)]
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    pub defaults: Option<DefaultsSpec>,
    #[serde(default)]
    #[schema(min_items = 1, max_items = 1_000)]
    pub tasks: Vec<TaskSpec>,
}

/// A run of a definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunDefinition {
    /// Merged over the definition's default input; checked against its input schema.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// The version to run (default: the latest).
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

/// A version of a definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionView {
    pub name: String,
    pub version: i32,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    /// `{input?, retry?, timeout_ms?}`.
    #[schema(value_type = Object)]
    pub defaults: Value,
    /// As written (defaults not applied).
    #[schema(value_type = Vec<Object>)]
    pub tasks: Value,
    pub owner_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<Definition> for DefinitionView {
    fn from(d: Definition) -> Self {
        Self {
            name: d.name,
            version: d.version,
            description: d.description,
            input_schema: d.input_schema,
            defaults: serde_json::to_value(&d.defaults).unwrap_or_default(),
            tasks: serde_json::to_value(&d.tasks).unwrap_or_default(),
            owner_id: d.owner_id.into(),
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionPage {
    pub data: Vec<DefinitionView>,
    pub next_cursor: Option<String>,
}

/// `?owner_id=` of the routes naming a definition.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnerQuery {
    /// Administrators: the owner whose definition this is (default: the caller).
    #[param(value_type = Option<Uuid>)]
    pub owner_id: Option<String>,
}

impl OwnerQuery {
    /// The owner meant: the caller, or the one an administrator names (another's: 404 to a
    /// member, as their definitions do not exist for them).
    pub fn owner(&self, caller: &Caller) -> Result<UserId, ApiError> {
        let Some(raw) = self.owner_id.as_deref() else {
            return Ok(caller.user);
        };
        let owner = raw
            .parse::<Uuid>()
            .map(UserId::from_uuid)
            .map_err(|_| ApiError::bad_request("owner_id must be a UUID"))?;
        if caller.scope.allows(owner) {
            Ok(owner)
        } else {
            Err(ApiError::NotFound("definition not found".into()))
        }
    }
}

/// `?version=` of a read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version (default: the latest).
    #[param(value_type = Option<i32>, minimum = 1)]
    pub version: Option<String>,
}

impl VersionQuery {
    pub fn version(&self) -> Result<Option<i32>, ApiError> {
        self.version
            .as_deref()
            .map(|raw| {
                raw.parse::<i32>().ok().filter(|v| *v >= 1).ok_or_else(|| {
                    ApiError::bad_request("version must be a whole number, 1 or more")
                })
            })
            .transpose()
    }
}
