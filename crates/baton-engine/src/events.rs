//! Fan-out of workflow events to live subscribers (SSE clients).
//!
//! Each process holds one topic per watched workflow. When a signal says a workflow has new
//! events (at once for this process's own commits; through the store's signals, e.g. Postgres
//! NOTIFY, for other instances'), the topic reads them once and broadcasts them to every
//! subscriber: one query per signal, whatever the number of clients. A slow poll of the watched
//! workflows is the fallback, so a lost notification never stalls a stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use baton_domain::ports::{EventLog, Signal, Signals, StoreError};
use baton_domain::{Event, WorkflowId};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Events read per query.
pub const PAGE: u32 = 500;
const CHANNEL_CAPACITY: usize = 1_024;

pub struct EventHub {
    log: Arc<dyn EventLog>,
    topics: Mutex<HashMap<WorkflowId, Arc<Topic>>>,
    /// `true` once the process is stopping: live streams end (clients reconnect elsewhere).
    closing: tokio::sync::watch::Sender<bool>,
}

struct Topic {
    tx: broadcast::Sender<Arc<Event>>,
    /// The last event id broadcast; `None` until the first subscriber initialises it.
    cursor: tokio::sync::Mutex<Option<i64>>,
    subscribers: AtomicUsize,
}

/// A live feed of one workflow's events; unsubscribes on drop.
pub struct Subscription {
    hub: Arc<EventHub>,
    workflow_id: WorkflowId,
    topic: Arc<Topic>,
    pub events: broadcast::Receiver<Arc<Event>>,
}

impl EventHub {
    pub fn new(log: Arc<dyn EventLog>) -> Arc<Self> {
        Arc::new(Self {
            log,
            topics: Mutex::new(HashMap::new()),
            closing: tokio::sync::watch::channel(false).0,
        })
    }

    /// Ends every live stream of this process (it is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`close`](Self::close) has been called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        // An error means the hub is gone: that is closed too.
        let _ = closing.wait_for(|closing| *closing).await;
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Subscribes to events recorded from now on (read history with the [`EventLog`]).
    pub async fn subscribe(
        self: &Arc<Self>,
        workflow_id: WorkflowId,
    ) -> Result<Subscription, StoreError> {
        let topic = {
            let mut topics = self
                .topics
                .lock()
                .map_err(|_| StoreError::Unknown(anyhow::anyhow!("event hub lock poisoned")))?;
            topics
                .entry(workflow_id)
                .or_insert_with(|| {
                    Arc::new(Topic {
                        tx: broadcast::channel(CHANNEL_CAPACITY).0,
                        cursor: tokio::sync::Mutex::new(None),
                        subscribers: AtomicUsize::new(0),
                    })
                })
                .clone()
        };
        topic.subscribers.fetch_add(1, Ordering::SeqCst);
        let subscription = Subscription {
            hub: self.clone(),
            workflow_id,
            events: topic.tx.subscribe(),
            topic: topic.clone(),
        };
        let mut cursor = topic.cursor.lock().await;
        if cursor.is_none() {
            *cursor = Some(self.log.last_event_id(workflow_id).await?);
        }
        Ok(subscription)
    }

    /// The store recorded new events for `workflow_id`: broadcast them if anyone listens here.
    pub fn notify(self: &Arc<Self>, workflow_id: WorkflowId) {
        let topic = self
            .topics
            .lock()
            .ok()
            .and_then(|topics| topics.get(&workflow_id).cloned());
        if let Some(topic) = topic {
            let hub = self.clone();
            tokio::spawn(async move { hub.pump(workflow_id, &topic).await });
        }
    }

    async fn pump(&self, workflow_id: WorkflowId, topic: &Topic) {
        let mut cursor = topic.cursor.lock().await;
        let Some(mut last) = *cursor else { return };
        loop {
            match self.log.events_after(workflow_id, last, PAGE).await {
                Ok(events) => {
                    let full = events.len() == PAGE as usize;
                    for event in events {
                        last = event.id;
                        // No receiver left is fine: they read history when they come back.
                        let _ = topic.tx.send(Arc::new(event));
                    }
                    *cursor = Some(last);
                    if !full {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, %workflow_id, "cannot read new events");
                    return;
                }
            }
        }
    }

    fn release(&self, workflow_id: WorkflowId, topic: &Arc<Topic>) {
        if topic.subscribers.fetch_sub(1, Ordering::SeqCst) == 1
            && let Ok(mut topics) = self.topics.lock()
            && topics
                .get(&workflow_id)
                .is_some_and(|t| Arc::ptr_eq(t, topic) && t.subscribers.load(Ordering::SeqCst) == 0)
        {
            topics.remove(&workflow_id);
        }
    }

    /// Hears [`Signal::EventsAppended`] on `signals`.
    pub fn listen(self: &Arc<Self>, signals: &dyn Signals) {
        let hub = Arc::downgrade(self);
        signals.subscribe(Arc::new(move |signal| {
            if let (Signal::EventsAppended(id), Some(hub)) = (signal, hub.upgrade()) {
                hub.notify(id);
            }
        }));
    }

    /// Reads new events of every watched workflow every `every`, until the task is aborted:
    /// the fallback for lost notifications.
    pub fn spawn_fallback(self: &Arc<Self>, every: std::time::Duration) -> JoinHandle<()> {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(hub) = hub.upgrade() else { return };
                let watched: Vec<WorkflowId> = hub
                    .topics
                    .lock()
                    .map(|topics| topics.keys().copied().collect())
                    .unwrap_or_default();
                for id in watched {
                    hub.notify(id);
                }
            }
        })
    }

    /// Workflows with at least one subscriber here.
    pub fn watched(&self) -> usize {
        self.topics.lock().map_or(0, |t| t.len())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.release(self.workflow_id, &self.topic);
    }
}
