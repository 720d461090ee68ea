//! Workflow definitions: a named, versioned workflow template (its tasks as `POST
//! /api/workflows` takes them, defaults, an input schema) that runs and schedules start
//! workflows from. A save is a new version; a run copies the version's tasks into the workflow
//! it creates, so later versions never change a run.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::Errors;
use crate::{
    DefinitionDefaults, DomainError, NewWorkflow, TaskDraft, UserId, check_input_against,
    check_input_schema,
};

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// A definition's name: 1 to 100 characters of `[A-Za-z0-9_.-]` (it is a URL path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DefinitionName(String);

impl DefinitionName {
    pub const MAX_CHARS: usize = 100;

    pub fn new(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() {
            return Err(DomainError::invalid("name", "is required"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "name",
                "must be at most 100 characters",
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(DomainError::invalid(
                "name",
                "may hold only letters, digits, `_`, `.` and `-` (it is part of URLs)",
            ));
        }
        if raw == "." || raw == ".." {
            return Err(DomainError::invalid("name", "must not be `.` or `..`"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DefinitionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A definition as a client sent it, unchecked (`name` from the body or the path).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefinitionDraft {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
    pub defaults: Option<DefinitionDefaults>,
    pub tasks: Vec<TaskDraft>,
}

/// A version of a definition to store, checked: its tasks, with the defaults applied, make a
/// valid workflow ([`NewDefinition::probe`], for the engine's checks of templates). Only
/// [`NewDefinition::new`] builds one; its version is decided by [`NewDefinition::version`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewDefinition {
    id: Uuid,
    owner_id: UserId,
    name: DefinitionName,
    version: i32,
    description: Option<String>,
    input_schema: Option<Value>,
    defaults: DefinitionDefaults,
    tasks: Vec<TaskDraft>,
    probe: NewWorkflow,
}

impl NewDefinition {
    /// Checks every field, reporting every broken rule at once (task errors as `tasks[i]…`).
    pub fn new(owner_id: UserId, draft: DefinitionDraft) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let name = errors.check(DefinitionName::new(&draft.name));
        if let Some(description) = &draft.description {
            if description.chars().count() > MAX_DESCRIPTION_CHARS {
                errors.add("description", "must be at most 2000 characters");
            }
            if description.contains('\0') {
                errors.add("description", "must not contain NUL characters");
            }
        }
        if let Some(schema) = &draft.input_schema {
            errors.check(check_input_schema(schema));
        }
        let defaults = draft.defaults.unwrap_or_default();
        // Broken defaults are reported once, on `defaults`, not again on every task.
        let applied = match errors.check(defaults.check()) {
            Some(()) => defaults.clone(),
            None => DefinitionDefaults {
                input: defaults.input.clone(),
                ..DefinitionDefaults::default()
            },
        };
        if draft.tasks.is_empty() {
            errors.add("tasks", "must list at least one task");
        }
        let probe = NewWorkflow::new(
            owner_id,
            draft.name.clone(),
            Some(Value::Object(defaults.input.clone().unwrap_or_default())),
            applied.apply(&draft.tasks),
        );
        let concurrency = applied.concurrency.as_ref().and_then(|c| c.checked().ok());
        let probe = match probe {
            Ok(probe) => Some(probe.with_concurrency(concurrency)),
            Err(DomainError::Invalid(fields)) => {
                // The name was checked above, as a definition's.
                errors.push(DomainError::Invalid(
                    fields.into_iter().filter(|f| f.field != "name").collect(),
                ));
                None
            }
            Err(other) => return Err(other),
        };
        errors.finish()?;
        match (name, probe) {
            (Some(name), Some(probe)) => Ok(Self {
                id: Uuid::now_v7(),
                owner_id,
                name,
                version: 1,
                description: draft.description,
                input_schema: draft.input_schema,
                defaults,
                tasks: draft.tasks,
                probe,
            }),
            _ => Err(DomainError::invalid("", "invalid definition")),
        }
    }

    /// This save as the version after `latest` (the owner's latest version of the name, `None`
    /// when there is none). `expected`, the caller's `If-Match`, must be the latest version.
    pub fn version(
        mut self,
        latest: Option<i32>,
        expected: Option<i32>,
    ) -> Result<Self, DomainError> {
        match latest {
            Some(current) => DomainError::check_version(expected, current)?,
            None if expected.is_some() => {
                return Err(DomainError::VersionMismatch {
                    expected: expected.unwrap_or_default(),
                    current: 0,
                });
            }
            None => {}
        }
        self.version = latest.map_or(1, |v| v.saturating_add(1));
        Ok(self)
    }

    /// The first version of a new name: `Conflict` when the owner has one of this name.
    pub fn first(self, latest: Option<i32>) -> Result<Self, DomainError> {
        if latest.is_some() {
            return Err(DomainError::conflict(format!(
                "a definition named {} exists already; save a new version with PUT \
                 /api/definitions/{}",
                self.name, self.name
            )));
        }
        Ok(self)
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn owner_id(&self) -> UserId {
        self.owner_id
    }

    pub fn name(&self) -> &DefinitionName {
        &self.name
    }

    pub fn version_number(&self) -> i32 {
        self.version
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn input_schema(&self) -> Option<&Value> {
        self.input_schema.as_ref()
    }

    pub fn defaults(&self) -> &DefinitionDefaults {
        &self.defaults
    }

    /// The tasks as written (defaults not applied).
    pub fn tasks(&self) -> &[TaskDraft] {
        &self.tasks
    }

    /// A workflow of these tasks with the defaults applied and the default input, for the
    /// checks a workflow gets before it is created (templates, jq, secrets).
    pub fn probe(&self) -> &NewWorkflow {
        &self.probe
    }
}

/// Which version of which definition a workflow was started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefinitionRef {
    pub name: String,
    pub version: i32,
}

/// A stored version of a definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: Uuid,
    pub owner_id: UserId,
    pub name: String,
    pub version: i32,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
    pub defaults: DefinitionDefaults,
    pub tasks: Vec<TaskDraft>,
    pub created_at: DateTime<Utc>,
}

impl Definition {
    /// The workflow a run of this version starts, owned by `owner`: `input` merged over the
    /// default input and checked against the input schema (errors on `input`), the tasks
    /// copied with the defaults applied (errors as `tasks[i]…` when they no longer make a
    /// valid workflow).
    pub fn run(&self, owner: UserId, input: Option<Value>) -> Result<NewWorkflow, DomainError> {
        let input = self.defaults.merged_input(input)?;
        if let Some(schema) = &self.input_schema {
            check_input_against(schema, &input)?;
        }
        let concurrency = match &self.defaults.concurrency {
            Some(c) => Some(c.checked().map_err(|e| e.under("defaults"))?),
            None => None,
        };
        let workflow = NewWorkflow::new(
            owner,
            self.name.clone(),
            Some(input),
            self.defaults.apply(&self.tasks),
        )?
        .with_concurrency(concurrency);
        Ok(workflow.with_definition(DefinitionRef {
            name: self.name.clone(),
            version: self.version,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::RetryDraft;

    fn transform() -> TaskDraft {
        TaskDraft {
            task_type: "transform".into(),
            input: Some(json!({"jq": ".input"})),
            ..TaskDraft::default()
        }
    }

    fn draft(name: &str) -> DefinitionDraft {
        DefinitionDraft {
            name: name.into(),
            tasks: vec![transform()],
            ..DefinitionDraft::default()
        }
    }

    #[test]
    fn names_are_url_segments() {
        for ok in ["digest", "a.b-c_d", "V2", &"x".repeat(100)] {
            assert!(DefinitionName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", "..", &"x".repeat(101)] {
            assert!(DefinitionName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut bad = transform();
        bad.task_type = "teleport".into();
        let err = NewDefinition::new(
            UserId::LOCAL_ADMIN,
            DefinitionDraft {
                name: "a b".into(),
                input_schema: Some(json!({"type": 3})),
                defaults: Some(DefinitionDefaults {
                    timeout_ms: Some(0),
                    ..DefinitionDefaults::default()
                }),
                tasks: vec![transform(), bad],
                ..DefinitionDraft::default()
            },
        )
        .unwrap_err();
        let DomainError::Invalid(fields) = err else {
            panic!("expected Invalid")
        };
        let fields: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "input_schema",
                "defaults.timeout_ms",
                "tasks[1].type"
            ]
        );
        let empty = NewDefinition::new(
            UserId::LOCAL_ADMIN,
            DefinitionDraft {
                tasks: vec![],
                ..draft("empty")
            },
        );
        assert!(empty.unwrap_err().to_string().contains("tasks"));
    }

    #[test]
    fn versions_follow_the_latest_and_if_match() {
        let new = || NewDefinition::new(UserId::LOCAL_ADMIN, draft("d")).unwrap();
        assert_eq!(new().version(None, None).unwrap().version_number(), 1);
        assert_eq!(new().version(Some(3), None).unwrap().version_number(), 4);
        assert_eq!(new().version(Some(3), Some(3)).unwrap().version_number(), 4);
        assert!(matches!(
            new().version(Some(3), Some(2)),
            Err(DomainError::VersionMismatch {
                expected: 2,
                current: 3
            })
        ));
        assert!(new().first(None).is_ok());
        assert!(matches!(
            new().first(Some(1)),
            Err(DomainError::Conflict(_))
        ));
    }

    fn stored(defaults: DefinitionDefaults, schema: Option<Value>) -> Definition {
        let mut task = transform();
        task.timeout_ms = Some(5);
        Definition {
            id: Uuid::now_v7(),
            owner_id: UserId::LOCAL_ADMIN,
            name: "d".into(),
            version: 2,
            description: None,
            input_schema: schema,
            defaults,
            tasks: vec![transform(), task],
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_run_merges_the_input_applies_the_defaults_and_records_its_version() {
        let defaults = DefinitionDefaults {
            input: Some(
                json!({"city": "Paris", "days": 1})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            retry: Some(RetryDraft {
                max_attempts: Some(7),
                ..RetryDraft::default()
            }),
            timeout_ms: Some(1_000),
            concurrency: Some(crate::ConcurrencyDefault {
                key: "{{ input.city }}".into(),
                limit: 2,
            }),
        };
        let run = stored(defaults, None)
            .run(UserId::LOCAL_ADMIN, Some(json!({"days": 3})))
            .unwrap();
        assert_eq!(run.input(), &json!({"city": "Paris", "days": 3}));
        assert_eq!(run.tasks()[0].retry().max_attempts(), 7);
        assert_eq!(run.tasks()[0].timeout_ms(), 1_000);
        assert_eq!(run.tasks()[1].timeout_ms(), 5, "a task's own value wins");
        assert_eq!(
            run.concurrency(),
            Some(&crate::Concurrency {
                key: "{{ input.city }}".into(),
                limit: 2
            }),
            "its runs take the definition's concurrency"
        );
        assert_eq!(
            run.definition(),
            Some(&DefinitionRef {
                name: "d".into(),
                version: 2
            })
        );
    }

    #[test]
    fn a_run_s_input_must_fit_the_schema() {
        let schema = json!({"type": "object", "required": ["city"]});
        let definition = stored(DefinitionDefaults::default(), Some(schema));
        let err = definition
            .run(UserId::LOCAL_ADMIN, Some(json!({})))
            .unwrap_err();
        assert!(err.to_string().contains("input: at /"), "{err}");
        assert!(
            definition
                .run(UserId::LOCAL_ADMIN, Some(json!({"city": "Lyon"})))
                .is_ok()
        );
        assert!(
            definition
                .run(UserId::LOCAL_ADMIN, Some(json!([1])))
                .is_err()
        );
    }
}
