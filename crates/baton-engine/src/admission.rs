//! Admission of queued workflows: read how a concurrency key stands, let the domain decide which
//! queued workflows start ([`baton_domain::admit`], then [`Workflow::admitted`] for each), and
//! have the store apply that under the key's lock, fenced; when the key changed meanwhile
//! (`Stale`), read and decide again.
//!
//! It runs right after a keyed workflow is started or queued (the use cases), after one may
//! have ended here (a step: [`Admissions::freed`], or a cancel), and in a periodic sweep of
//! every key with queued workflows, in every instance, so that a crash between a workflow
//! ending and its admission never strands the queued ones.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_domain::ports::{Scope, Signal, Signals, StoreError, WorkflowStore};
use baton_domain::{
    Admission, ConcurrencyKey, MAX_CONCURRENCY_LIMIT, UserId, Workflow, WorkflowId, admit,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How often an admission is decided again when its key changed under it.
const ATTEMPTS: usize = 5;
/// At most this many keys per sweep.
const SWEEP_KEYS: u32 = 1_000;

/// Admits queued workflows. Cheap to clone.
#[derive(Clone)]
pub struct Admissions {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn WorkflowStore>,
    signals: Arc<dyn Signals>,
    /// Keys a step of this process may have freed a slot of, for the loop to admit.
    freed: Mutex<HashSet<(UserId, ConcurrencyKey)>>,
    wake: Notify,
}

/// What reading a key decided.
enum Decided {
    Nothing,
    Admit(Admission),
    /// A queued workflow changed while it was read: read the key again.
    Again,
}

impl Admissions {
    pub(crate) fn new(store: Arc<dyn WorkflowStore>, signals: Arc<dyn Signals>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                signals,
                freed: Mutex::new(HashSet::new()),
                wake: Notify::new(),
            }),
        }
    }

    /// A workflow of `owner`'s `key` may have ended in this process: the admission loop admits
    /// for the key at once (not waiting for the sweep).
    pub fn freed(&self, owner: UserId, key: &str) {
        let Ok(key) = ConcurrencyKey::new(key.to_owned()) else {
            return;
        };
        if let Ok(mut freed) = self.inner.freed.lock() {
            freed.insert((owner, key));
        }
        self.inner.wake.notify_one();
    }

    /// Starts the queued workflows of `owner`'s `key` that its free slots allow, oldest first;
    /// their ids.
    #[tracing::instrument(skip_all, fields(key = %key.as_str()))]
    pub async fn admit(
        &self,
        owner: UserId,
        key: &ConcurrencyKey,
    ) -> Result<Vec<WorkflowId>, StoreError> {
        for _ in 0..ATTEMPTS {
            let admission = match self.decide(owner, key).await? {
                Decided::Nothing => return Ok(Vec::new()),
                Decided::Again => continue,
                Decided::Admit(admission) => admission,
            };
            match self.inner.store.admit(&admission).await {
                Ok(()) => {
                    self.started(&admission);
                    return Ok(admission.workflows());
                }
                Err(StoreError::Stale(_)) => continue,
                Err(err) => return Err(err),
            }
        }
        // The sweep tries again.
        Ok(Vec::new())
    }

    async fn decide(&self, owner: UserId, key: &ConcurrencyKey) -> Result<Decided, StoreError> {
        let store = &self.inner.store;
        let state = store.key_state(owner, key, MAX_CONCURRENCY_LIMIT).await?;
        let count = admit(state.running, &state.queued);
        if count == 0 {
            return Ok(Decided::Nothing);
        }
        let mut admitted: Vec<Workflow> = Vec::with_capacity(count);
        for queued in &state.queued[..count] {
            match store.get_workflow(Scope::All, queued.id).await {
                Ok(workflow) => admitted.push(workflow),
                Err(StoreError::NotFound(_)) => return Ok(Decided::Again),
                Err(err) => return Err(err),
            }
        }
        match Admission::of_queued(owner, key.clone(), state.running, &admitted) {
            Ok(admission) => Ok(Decided::Admit(admission)),
            // One is no longer queued (cancelled, or admitted by another instance).
            Err(baton_domain::DomainError::Conflict(_)) => Ok(Decided::Again),
            Err(err) => Err(err.into()),
        }
    }

    /// Tells this process what an applied admission started.
    pub(crate) fn started(&self, admission: &Admission) {
        let signals = &self.inner.signals;
        for id in admission.workflows() {
            signals.publish(Signal::EventsAppended(id));
        }
        signals.publish(Signal::WorkQueued);
    }

    /// Admits for every key with queued workflows.
    pub async fn sweep(&self) -> Result<(), StoreError> {
        for (owner, key) in self.inner.store.queued_keys(SWEEP_KEYS).await? {
            self.admit_logged(owner, &key).await;
        }
        Ok(())
    }

    /// Admits for `owner`'s `key`, logging a failure (the sweep tries again).
    pub(crate) async fn admit_logged(&self, owner: UserId, key: &ConcurrencyKey) {
        if let Err(err) = self.admit(owner, key).await {
            tracing::warn!(error = %err, key = %key.as_str(), "cannot admit queued workflows");
        }
    }

    /// The admission loop: the keys [`freed`](Self::freed) at once, every key with queued
    /// workflows `every` so often.
    pub(crate) fn spawn(&self, every: Duration) -> JoinHandle<()> {
        let admissions = self.clone();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(every);
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let swept = tokio::select! {
                    _ = admissions.inner.wake.notified() => false,
                    _ = sweep.tick() => true,
                };
                let freed: Vec<(UserId, ConcurrencyKey)> = match admissions.inner.freed.lock() {
                    Ok(mut freed) => freed.drain().collect(),
                    Err(_) => Vec::new(),
                };
                for (owner, key) in freed {
                    admissions.admit_logged(owner, &key).await;
                }
                if swept && let Err(err) = admissions.sweep().await {
                    tracing::warn!(error = %err, "cannot look for queued workflows");
                }
            }
        })
    }
}
