//! Batched completion: the steps this process's workers decide go to the store together, in
//! one call ([`TaskQueue::apply_steps`], one transaction), when they are ready at the same time.
//!
//! A batch never waits to fill. A lane takes the first step waiting and every other step
//! already waiting behind it (at most `max_batch`), and applies them; steps that arrive while
//! its commit is in flight form the next batch, on the next free lane. Under a light load a
//! step is applied alone, as soon as it is decided (no added latency); under a heavy one each
//! commit carries many, as Postgres' group commit does for fsyncs, and River's batch completer
//! or graphile-worker's batched completions do for job queues.

use std::sync::Arc;

use baton_domain::ports::{StoreError, TaskQueue};
use baton_domain::{StepApplied, StepCommit};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// A decided step waiting for its batch, and where its answer goes.
struct Waiting {
    step: Arc<StepCommit>,
    answer: oneshot::Sender<Result<StepApplied, StoreError>>,
}

/// The front of the batching; cheap to clone. Its lanes stop when every clone is dropped.
#[derive(Clone)]
pub(super) struct Completer {
    waiting: mpsc::Sender<Waiting>,
}

impl Completer {
    /// `max_batch` steps per call at most (1: each step alone); `lanes` calls in flight at once;
    /// room for `capacity` waiting steps (the workers: each waits for one step at a time).
    pub(super) fn start(
        queue: Arc<dyn TaskQueue>,
        max_batch: usize,
        lanes: usize,
        capacity: usize,
    ) -> Self {
        let (waiting, receiver) = mpsc::channel(capacity.max(1));
        tokio::spawn(batch_loop(
            queue,
            receiver,
            max_batch.max(1),
            Arc::new(Semaphore::new(lanes.max(1))),
        ));
        Self { waiting }
    }

    /// Applies `step` with whatever else is ready at the same time.
    pub(super) async fn apply(&self, step: Arc<StepCommit>) -> Result<StepApplied, StoreError> {
        let (answer, answered) = oneshot::channel();
        if self.waiting.send(Waiting { step, answer }).await.is_err() {
            return Err(stopped());
        }
        // A dropped answer: the lane was dropped with the runtime, and whether the step was
        // applied is unknown. It is not reported applied; its lease decides.
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the step completer has stopped"))
}

/// Takes the first waiting step on a free lane, then every step already waiting, and applies
/// them together on that lane.
async fn batch_loop(
    queue: Arc<dyn TaskQueue>,
    mut receiver: mpsc::Receiver<Waiting>,
    max_batch: usize,
    lanes: Arc<Semaphore>,
) {
    loop {
        let Ok(lane) = lanes.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let queue = queue.clone();
        tokio::spawn(async move {
            let steps: Vec<&StepCommit> = batch.iter().map(|w| w.step.as_ref()).collect();
            let mut applied = queue.apply_steps(&steps).await.into_iter();
            drop(steps);
            for waiting in batch {
                let result = applied.next().unwrap_or_else(|| {
                    Err(StoreError::Unknown(anyhow::anyhow!(
                        "the store answered for fewer steps than it was given"
                    )))
                });
                // A worker that stopped waiting (shutting down) needs no answer.
                let _ = waiting.answer.send(result);
            }
            drop(lane);
        });
    }
}
