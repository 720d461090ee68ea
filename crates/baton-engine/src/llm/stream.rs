//! One provider call of an `llm` task, streamed: its text written as `task.delta` events every
//! [`DELTA_EVERY`], a `task.rewind` first when earlier text of the task is void, and what the
//! call cost, for the usage ledger.

use std::time::Duration;

use baton_domain::ports::{LlmClient, Signal};
use baton_domain::{Claim, EventKind, LlmEvent, LlmRequest, NewEvent, TaskError, Usage};
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::tasks::Deps;

/// Streamed text is written as `task.delta` events at most this often.
pub const DELTA_EVERY: Duration = Duration::from_millis(100);

/// A call's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    pub model: String,
    pub finish_reason: Option<String>,
}

/// One call as made, answered or not: a line of the usage ledger.
#[derive(Debug, Clone)]
pub struct CallMade {
    pub model: String,
    pub usage: Option<Usage>,
    pub latency: Duration,
    pub first_token: Option<Duration>,
    pub finish_reason: Option<String>,
    /// The call failed (its usage, when the provider sent any, still counts).
    pub error: Option<String>,
    /// The text it streamed, for an estimate when the provider counts no tokens.
    pub streamed_chars: usize,
}

/// What a call showed before it ended.
#[derive(Default)]
struct Seen {
    first_token: Option<Duration>,
    usage: Option<Usage>,
    chars: usize,
}

/// The task's side of the event stream over its calls.
pub struct Streamer<'d, 'a> {
    deps: &'d Deps<'a>,
    claim: &'d Claim,
    /// Text was streamed that the next delta must void first (with `task.rewind`).
    void_before_next: bool,
    /// This attempt streamed text since its last rewind.
    streamed: bool,
    pub calls: Vec<CallMade>,
}

impl<'d, 'a> Streamer<'d, 'a> {
    pub fn new(deps: &'d Deps<'a>, claim: &'d Claim) -> Self {
        Self {
            deps,
            claim,
            // A retry voids whatever an earlier attempt streamed.
            void_before_next: claim.task.attempt > 1,
            streamed: false,
            calls: Vec::new(),
        }
    }

    /// The next call's text replaces what this attempt streamed so far.
    pub fn rewind(&mut self) {
        if self.streamed {
            self.void_before_next = true;
            self.streamed = false;
        }
    }

    /// Streams one call: its answer, or why it failed.
    pub async fn call(
        &mut self,
        client: &dyn LlmClient,
        request: LlmRequest,
        default_model: &str,
    ) -> Result<Answer, TaskError> {
        let started = Instant::now();
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| default_model.to_owned());
        let mut seen = Seen::default();
        let result = self.stream(client, request, started, &mut seen).await;
        let (model, finish_reason) = match &result {
            Ok(answer) => (answer.model.clone(), answer.finish_reason.clone()),
            Err(_) => (model, None),
        };
        self.calls.push(CallMade {
            model,
            usage: seen.usage,
            latency: started.elapsed(),
            first_token: seen.first_token,
            finish_reason,
            error: result.as_ref().err().map(|e| e.message.clone()),
            streamed_chars: seen.chars,
        });
        result
    }

    async fn stream(
        &mut self,
        client: &dyn LlmClient,
        request: LlmRequest,
        started: Instant,
        seen: &mut Seen,
    ) -> Result<Answer, TaskError> {
        let mut stream = client.stream(request).await?;
        let mut text = String::new();
        let mut pending = String::new();
        let mut flush_at: Option<Instant> = None;
        loop {
            let item = match flush_at {
                Some(at) => tokio::select! {
                    item = stream.next() => Some(item),
                    () = tokio::time::sleep_until(at) => None,
                },
                None => Some(stream.next().await),
            };
            match item {
                None => {
                    self.flush(&mut pending, false).await?;
                    flush_at = None;
                }
                Some(Some(Ok(LlmEvent::Delta(delta)))) => {
                    seen.first_token.get_or_insert_with(|| started.elapsed());
                    seen.chars += delta.chars().count();
                    text.push_str(&delta);
                    pending.push_str(&delta);
                    flush_at.get_or_insert_with(|| Instant::now() + DELTA_EVERY);
                }
                Some(Some(Ok(LlmEvent::Finished {
                    model,
                    finish_reason,
                    usage,
                }))) => {
                    seen.usage = usage;
                    self.flush(&mut pending, true).await?;
                    return Ok(Answer {
                        text,
                        model,
                        finish_reason,
                    });
                }
                Some(Some(Err(error))) => {
                    // What the client already saw stays on the stream.
                    let _ = self.flush(&mut pending, true).await;
                    return Err(error);
                }
                Some(None) => {
                    return Err(TaskError::retryable(
                        "llm_stream",
                        "the model's stream ended without finishing",
                    ));
                }
            }
        }
    }

    /// Writes a whole text at once (an answer from the cache) as the call's stream.
    pub async fn whole(&mut self, text: &str) -> Result<(), TaskError> {
        let mut pending = text.to_owned();
        self.flush(&mut pending, true).await
    }

    /// Writes the pending text as a `task.delta` event, its secrets hidden. Unless it is the
    /// `last` piece, an end that may start a secret's value waits for the next piece.
    async fn flush(&mut self, pending: &mut String, last: bool) -> Result<(), TaskError> {
        let held = if last {
            0
        } else {
            self.deps.redactor.hold_back(pending)
        };
        let ready = pending.len() - held;
        if ready == 0 {
            return Ok(());
        }
        let task = &self.claim.task;
        if self.void_before_next {
            self.append(EventKind::TaskRewind {
                task_id: task.id,
                attempt: task.attempt,
            })
            .await?;
            self.void_before_next = false;
        }
        let text =
            baton_domain::storable_text(&self.deps.redactor.text(&pending[..ready])).into_owned();
        self.append(EventKind::TaskDelta {
            task_id: task.id,
            attempt: task.attempt,
            text,
        })
        .await?;
        pending.drain(..ready);
        self.streamed = true;
        Ok(())
    }

    async fn append(&self, kind: EventKind) -> Result<(), TaskError> {
        let task = &self.claim.task;
        let event = NewEvent::new(task.workflow_id, kind).of_element(task.element_index);
        match self.deps.queue.append_held(self.claim, &event).await {
            Ok(true) => {
                self.deps
                    .signals
                    .publish(Signal::EventsAppended(task.workflow_id));
                Ok(())
            }
            Ok(false) => Err(TaskError::permanent(
                "lease_lost",
                "the task's lease was lost while streaming",
            )),
            Err(err) => Err(TaskError::retryable(
                "store",
                format!("cannot record streamed text: {err}"),
            )),
        }
    }
}
