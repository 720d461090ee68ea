//! A `sleep` or `wait` task at its turn: done (its time came, or its signal), timed out, or
//! parked again, holding no worker (see [`Waiting`]).

use baton_domain::{CarryOn, Claim, StepCommit, TaskError, TaskType, Waiting, sleep_of, wait_of};
use chrono::Utc;
use serde_json::Value;

use super::Engine;
use super::turn::Decided;
use crate::templates::StepContext;

impl Engine {
    pub(super) async fn wait_turn(
        &self,
        claim: &Claim,
        context: &StepContext,
        carry_on: Option<&CarryOn>,
    ) -> Decided {
        let input = match self.opened_input(claim, context).await {
            Ok((_, input)) => input,
            Err(error) => return Decided::failed(claim, None, error),
        };
        let invalid = |e: baton_domain::DomainError| {
            TaskError::permanent(
                "invalid_input",
                format!("the {} task's input: {e}", claim.task.task_type),
            )
        };
        let now = Utc::now();
        let waiting = if claim.task.task_type == TaskType::Sleep {
            match sleep_of(&input.sent) {
                Ok(sleep) => Waiting::sleep(&claim.task, sleep, now),
                Err(e) => return Decided::failed(claim, Some(input.shown), invalid(e)),
            }
        } else {
            let wait = match wait_of(&input.sent) {
                Ok(wait) => wait,
                Err(e) => return Decided::failed(claim, Some(input.shown), invalid(e)),
            };
            let signal = match self
                .inner
                .queue
                .next_signal(claim.task.workflow_id, wait.signal.as_str())
                .await
            {
                Ok(signal) => signal,
                Err(err) => {
                    let error = TaskError::retryable(
                        "store",
                        format!("cannot read the workflow's signals: {err}"),
                    );
                    return Decided::failed(claim, Some(input.shown), error);
                }
            };
            Waiting::wait(&claim.task, &wait, signal.as_ref(), now)
        };
        match waiting {
            Waiting::Done { output, signal } => {
                let mut step =
                    StepCommit::completed(claim, input.shown, output.clone(), None, carry_on);
                step.consume_signal = signal;
                Decided::Done { step, output }
            }
            Waiting::Park {
                until,
                signal,
                first,
            } => {
                tracing::info!(
                    ?until,
                    signal = signal.as_ref().map(|s| s.as_str()),
                    "task waits"
                );
                Decided::Done {
                    step: StepCommit::parked(claim, input.shown, until, signal, first, carry_on),
                    output: Value::Null,
                }
            }
            Waiting::TimedOut { message } => Decided::failed(
                claim,
                Some(input.shown),
                TaskError::permanent("timeout", message),
            ),
        }
    }
}
