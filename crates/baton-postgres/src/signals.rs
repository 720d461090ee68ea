//! The signals port across instances: this process's signals reach its subscribers at once;
//! the other instances' arrive through LISTEN/NOTIFY (the store notifies in the transactions
//! that queue work, cancel, append events or revoke keys).

use std::sync::Arc;

use baton_domain::WorkflowId;
use baton_domain::ports::{LocalSignals, Signal, Signals, Subscriber};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{AUTH_CHANNEL, CANCEL_CHANNEL, EVENTS_CHANNEL, WORK_CHANNEL};

/// Signals of every instance on one Postgres database.
#[derive(Default)]
pub struct PgSignals {
    local: LocalSignals,
}

const CHANNELS: &[&str] = &[WORK_CHANNEL, CANCEL_CHANNEL, EVENTS_CHANNEL, AUTH_CHANNEL];

impl PgSignals {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Listens on the database at `url` until the returned task is aborted, publishing what
    /// other instances notify to this process's subscribers. After a reconnection every kind of
    /// signal is published once, since notifications may have been missed meanwhile.
    pub fn listen(self: &Arc<Self>, url: String) -> JoinHandle<()> {
        let signals = self.clone();
        crate::spawn_listener(
            url,
            CHANNELS,
            Arc::new(move |channel: &str, payload: &str| {
                let workflow = payload.parse::<Uuid>().ok().map(WorkflowId::from_uuid);
                let signal = match (channel, workflow) {
                    (WORK_CHANNEL, _) => Some(Signal::WorkQueued),
                    (AUTH_CHANNEL, _) => Some(Signal::KeysRevoked),
                    (EVENTS_CHANNEL, Some(id)) => Some(Signal::EventsAppended(id)),
                    (CANCEL_CHANNEL, Some(id)) => Some(Signal::WorkflowCancelled(id)),
                    _ => None,
                };
                if let Some(signal) = signal {
                    signals.local.publish(signal);
                }
            }),
        )
    }
}

impl Signals for PgSignals {
    fn publish(&self, signal: Signal) {
        self.local.publish(signal);
    }

    fn subscribe(&self, subscriber: Subscriber) {
        self.local.subscribe(subscriber);
    }
}
