//! Batched completion: the steps this process's workers decide go to the store together, in
//! one call ([`TaskQueue::apply_steps`], one transaction), when they are ready at the same time.
//!
//! A batch never waits to fill. A worker whose step finds a lane free applies it at once, on
//! its own task, with every step already waiting (at most `max_batch`); a step that finds every
//! lane busy waits for the next batch, which the lane that frees first takes. Under a light
//! load a step is applied alone, as soon as it is decided, with no hop to another task; under a
//! heavy one each commit carries many, as Postgres' group commit does for fsyncs, and River's
//! batch completer or graphile-worker's batched completions do for job queues.

use std::sync::{Arc, Mutex, MutexGuard};

use baton_domain::ports::{StoreError, TaskQueue};
use baton_domain::{StepApplied, StepCommit};
use tokio::sync::oneshot;

type Answer = Result<StepApplied, StoreError>;

/// A decided step waiting for a batch, and where its answer goes.
struct Waiting {
    step: Arc<StepCommit>,
    answer: oneshot::Sender<Answer>,
}

/// What a step found: a free lane (with the steps that waited), or a place in the next batch.
enum Entered {
    Lane(Arc<StepCommit>, Vec<Waiting>),
    Waiting(oneshot::Receiver<Answer>),
}

#[derive(Default)]
struct Lanes {
    waiting: Vec<Waiting>,
    busy: usize,
}

/// The batching of one engine; cheap to clone.
#[derive(Clone)]
pub(super) struct Completer {
    queue: Arc<dyn TaskQueue>,
    lanes: Arc<Mutex<Lanes>>,
    max_batch: usize,
    max_lanes: usize,
}

impl Completer {
    /// `max_batch` steps per call at most (1: each step alone); `lanes` calls in flight at once.
    pub(super) fn new(queue: Arc<dyn TaskQueue>, max_batch: usize, lanes: usize) -> Self {
        Self {
            queue,
            lanes: Arc::new(Mutex::new(Lanes::default())),
            max_batch: max_batch.max(1),
            max_lanes: lanes.max(1),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Lanes>, StoreError> {
        self.lanes
            .lock()
            .map_err(|_| StoreError::Unknown(anyhow::anyhow!("the step completer is poisoned")))
    }

    /// Applies `step` with whatever else is ready at the same time.
    pub(super) async fn apply(&self, step: Arc<StepCommit>) -> Answer {
        let (step, others) = match self.enter(step)? {
            Entered::Lane(step, others) => (step, others),
            Entered::Waiting(answered) => {
                // A dropped answer: the batch's task ended without one (the runtime is going
                // away), and whether the step was applied is unknown. Its lease decides.
                return answered.await.unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(anyhow::anyhow!(
                        "the step's batch ended without an answer"
                    )))
                });
            }
        };
        // Given back however this ends, also when the caller stops waiting.
        let _lane = Lane(self);
        let mine = self.apply_batch(Some(step), others).await;
        mine.unwrap_or_else(|| {
            Err(StoreError::Unknown(anyhow::anyhow!(
                "the store gave no answer for the step"
            )))
        })
    }

    /// Takes a free lane with the steps waiting, or queues `step` for the next batch.
    fn enter(&self, step: Arc<StepCommit>) -> Result<Entered, StoreError> {
        let mut lanes = self.lock()?;
        if lanes.busy >= self.max_lanes {
            let (answer, answered) = oneshot::channel();
            lanes.waiting.push(Waiting { step, answer });
            return Ok(Entered::Waiting(answered));
        }
        lanes.busy += 1;
        let others = take(&mut lanes.waiting, self.max_batch - 1);
        Ok(Entered::Lane(step, others))
    }

    /// Applies `mine` (when given) with `others`; answers the others, returns mine.
    async fn apply_batch(
        &self,
        mine: Option<Arc<StepCommit>>,
        others: Vec<Waiting>,
    ) -> Option<Answer> {
        let mut steps: Vec<&StepCommit> = Vec::with_capacity(others.len() + 1);
        if let Some(mine) = &mine {
            steps.push(mine);
        }
        steps.extend(others.iter().map(|w| w.step.as_ref()));
        let mut answers = self.queue.apply_steps(&steps).await.into_iter();
        drop(steps);
        let own = mine.map(|_| answers.next().unwrap_or_else(missing));
        for waiting in others {
            // A worker that stopped waiting (shutting down) needs no answer.
            let _ = waiting.answer.send(answers.next().unwrap_or_else(missing));
        }
        own
    }

    /// Gives the lane back; steps that waited for one meanwhile are applied on a task of their
    /// own (their workers are waiting), which holds the lane until none is left.
    fn free_lane(&self) {
        let Ok(mut lanes) = self.lock() else { return };
        if lanes.waiting.is_empty() {
            lanes.busy -= 1;
            return;
        }
        drop(lanes);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let completer = self.clone();
        runtime.spawn(async move {
            while let Some(batch) = completer.next_batch() {
                completer.apply_batch(None, batch).await;
            }
        });
    }

    /// The steps waiting, for the lane that holds them; `None` (the lane given back) when none.
    fn next_batch(&self) -> Option<Vec<Waiting>> {
        let mut lanes = self.lock().ok()?;
        if lanes.waiting.is_empty() {
            lanes.busy -= 1;
            return None;
        }
        Some(take(&mut lanes.waiting, self.max_batch))
    }
}

/// A lane held by a worker's step.
struct Lane<'a>(&'a Completer);

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        self.0.free_lane();
    }
}

/// The first `n` of the waiting steps, oldest first.
fn take(waiting: &mut Vec<Waiting>, n: usize) -> Vec<Waiting> {
    let n = n.min(waiting.len());
    waiting.drain(..n).collect()
}

fn missing() -> Answer {
    Err(StoreError::Unknown(anyhow::anyhow!(
        "the store answered for fewer steps than it was given"
    )))
}
