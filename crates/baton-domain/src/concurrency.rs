//! Concurrency keys: at most `limit` workflows of one owner with the same key run at once; a
//! start (or retry) beyond that parks the workflow `queued`, and queued workflows are admitted
//! oldest first (by the time they were queued, then id) as slots free.
//!
//! The rule is here: [`admit`] says which queued workflows run, given how many are running;
//! [`Workflow::admit_or_queue`] decides a keyed start or retry, [`Workflow::admitted`] the start
//! of an admitted workflow. A store applies an [`Admission`] under the key's lock, only while
//! what it was decided from still holds; otherwise it changes nothing (`StoreError::Stale`) and
//! the engine decides again.

use serde::Serialize;

use crate::{DomainError, Transition, UserId, Workflow, WorkflowId, WorkflowStatus};

/// A key's limit is between 1 and this.
pub const MAX_CONCURRENCY_LIMIT: u32 = 1_000;
/// A rendered key has at most this many characters.
pub const MAX_CONCURRENCY_KEY_CHARS: usize = 200;
/// A key's template has at most this many characters.
pub const MAX_CONCURRENCY_TEMPLATE_CHARS: usize = 1_000;

/// A workflow's concurrency: its key (the template as written until the workflow starts, the
/// rendered key from then on) and its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Concurrency {
    pub key: String,
    pub limit: u32,
}

impl Concurrency {
    /// Checks a client's: a key template of 1 to 1,000 characters (its references are the
    /// engine's to check), a limit of 1 to 1,000. Fields are `concurrency.key` and
    /// `concurrency.limit`.
    pub fn new(key: String, limit: i64) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let chars = key.chars().count();
        if key.trim().is_empty() {
            errors.push(crate::FieldError::new(
                "concurrency.key",
                "must not be empty",
            ));
        } else if chars > MAX_CONCURRENCY_TEMPLATE_CHARS {
            errors.push(crate::FieldError::new(
                "concurrency.key",
                format!("must be at most {MAX_CONCURRENCY_TEMPLATE_CHARS} characters"),
            ));
        }
        let limit = u32::try_from(limit)
            .ok()
            .filter(|l| (1..=MAX_CONCURRENCY_LIMIT).contains(l));
        if limit.is_none() {
            errors.push(crate::FieldError::new(
                "concurrency.limit",
                format!("must be between 1 and {MAX_CONCURRENCY_LIMIT}"),
            ));
        }
        match limit {
            Some(limit) if errors.is_empty() => Ok(Self { key, limit }),
            _ => Err(DomainError::Invalid(errors)),
        }
    }
}

/// A rendered concurrency key: not empty, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConcurrencyKey(String);

impl ConcurrencyKey {
    /// `Invalid` on `concurrency.key` when empty or longer than 200 characters.
    pub fn new(key: String) -> Result<Self, DomainError> {
        if key.is_empty() {
            return Err(DomainError::invalid(
                "concurrency.key",
                "renders to an empty key",
            ));
        }
        if key.chars().count() > MAX_CONCURRENCY_KEY_CHARS {
            return Err(DomainError::invalid(
                "concurrency.key",
                format!("renders to more than {MAX_CONCURRENCY_KEY_CHARS} characters"),
            ));
        }
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A workflow waiting for a slot, as admission sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub id: WorkflowId,
    /// Its own limit: it runs only while fewer than this many of its key run.
    pub limit: u32,
}

/// How one (owner, key) stands, as read: how many of its workflows run, and those queued,
/// oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    pub running: u32,
    pub queued: Vec<Queued>,
}

/// The admission rule: how many of `queued` (oldest first) may start when `running` of their
/// key run. Each in turn starts while fewer than its limit run (those admitted before it
/// counted); the first that must wait stops the rest, so none overtakes an older one.
pub fn admit(running: u32, queued: &[Queued]) -> usize {
    queued
        .iter()
        .enumerate()
        .take_while(|(i, q)| {
            let admitted = u32::try_from(*i).unwrap_or(u32::MAX);
            running.saturating_add(admitted) < q.limit
        })
        .count()
}

/// A decided admission of one (owner, key): `starts` applied together under the key's lock,
/// only while at most `running` of the key run (else `Stale`, changing nothing), while none of
/// the key is queued when `none_queued` (a start going straight to running must not overtake
/// a queued one), and while each started workflow still has its transition's `from` status.
/// The started workflows keep `key` as their rendered key.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub owner: UserId,
    pub key: ConcurrencyKey,
    pub running: u32,
    pub none_queued: bool,
    pub starts: Vec<Transition>,
}

impl Admission {
    /// The admission of `admitted` (queued workflows of `owner`'s `key`, oldest first, as
    /// [`admit`] chose them from a [`KeyState`] with `running`).
    pub fn of_queued(
        owner: UserId,
        key: ConcurrencyKey,
        running: u32,
        admitted: &[Workflow],
    ) -> Result<Self, DomainError> {
        let starts = admitted
            .iter()
            .map(Workflow::admitted)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            owner,
            key,
            running,
            none_queued: false,
            starts,
        })
    }

    /// The ids of the workflows it starts.
    pub fn workflows(&self) -> Vec<WorkflowId> {
        self.starts.iter().map(|t| t.workflow_id).collect()
    }
}

/// What a start or retry of a workflow with a concurrency key becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyedStart {
    /// A slot is free and nobody waits: it runs now.
    Run(Admission),
    /// It waits `queued` (a `workflow.queued` event); admission starts it later.
    Queue(Transition),
}

impl Workflow {
    /// Decides `transition` (this workflow's start or retry, to running) under its concurrency
    /// key `key`, which stands as `state`: it runs at once when none of the key is queued and
    /// fewer than its limit run, else it is parked `queued`. A workflow without a concurrency
    /// key has no use for this: it runs.
    pub fn admit_or_queue(
        &self,
        transition: Transition,
        key: ConcurrencyKey,
        state: &KeyState,
    ) -> Result<KeyedStart, DomainError> {
        let limit = self.concurrency.as_ref().map_or(u32::MAX, |c| c.limit);
        let me = [Queued { id: self.id, limit }];
        if state.queued.is_empty() && admit(state.running, &me) == 1 {
            return Ok(KeyedStart::Run(Admission {
                owner: self.owner_id,
                key,
                running: state.running,
                none_queued: true,
                starts: vec![transition],
            }));
        }
        Ok(KeyedStart::Queue(
            transition.parked(key.as_str().to_owned(), limit)?,
        ))
    }

    /// The start of this queued workflow, admitted: a start as [`Workflow::start`] decides it
    /// when it never ran, else the resumption [`Workflow::retry`] decides (it was retried).
    /// `Conflict` unless queued.
    pub fn admitted(&self) -> Result<Transition, DomainError> {
        if self.status != WorkflowStatus::Queued {
            return Err(DomainError::conflict(format!(
                "the workflow is {}; only a queued workflow can be admitted",
                self.status
            )));
        }
        if self.started_at.is_none() {
            self.start_from_any()
        } else {
            self.resume()
        }
    }
}

#[cfg(test)]
mod tests;
