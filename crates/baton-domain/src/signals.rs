//! Signals between the parts of Baton: work queued, a workflow cancelled, events appended, API
//! keys revoked. A process hears its own signals at once (the engine publishes them right after
//! each commit); a store that spans instances delivers the other instances' too (Postgres:
//! LISTEN/NOTIFY). Signals only speed things up: every listener also polls.

use std::sync::Arc;

use crate::WorkflowId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Some task may have become runnable.
    WorkQueued,
    /// This workflow was cancelled: stop its running attempts.
    WorkflowCancelled(WorkflowId),
    /// This workflow has new events.
    EventsAppended(WorkflowId),
    /// API keys were revoked: forget cached lookups.
    KeysRevoked,
}

/// Receives every signal; called on the publisher's thread, so it must not block.
pub type Subscriber = Arc<dyn Fn(Signal) + Send + Sync>;

pub trait Signals: Send + Sync + 'static {
    /// Tells this process's subscribers now.
    fn publish(&self, signal: Signal);

    /// Adds a subscriber for the life of the process.
    fn subscribe(&self, subscriber: Subscriber);
}

/// Signals within one process: every subscriber hears every signal published here.
#[derive(Default)]
pub struct LocalSignals {
    subscribers: std::sync::RwLock<Vec<Subscriber>>,
}

impl LocalSignals {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Signals for LocalSignals {
    fn publish(&self, signal: Signal) {
        if let Ok(subscribers) = self.subscribers.read() {
            for subscriber in subscribers.iter() {
                subscriber(signal);
            }
        }
    }

    fn subscribe(&self, subscriber: Subscriber) {
        if let Ok(mut subscribers) = self.subscribers.write() {
            subscribers.push(subscriber);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn every_subscriber_hears_every_signal() {
        let signals = LocalSignals::new();
        let heard = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..2 {
            let heard = heard.clone();
            signals.subscribe(Arc::new(move |s| heard.lock().unwrap().push(s)));
        }
        signals.publish(Signal::WorkQueued);
        assert_eq!(
            *heard.lock().unwrap(),
            [Signal::WorkQueued, Signal::WorkQueued]
        );
    }
}
