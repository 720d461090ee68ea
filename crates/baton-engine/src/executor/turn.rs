//! A claimed task's turn: skipped (its `when`, or its dependencies all skipped), fanned out
//! (`for_each`) or joined, a child workflow started or joined, or run as an attempt raced
//! against its time limit, its lease, cancellation and shutdown; decided as a [`StepCommit`].

use std::time::Duration;

use baton_domain::{
    BUDGET_EXCEEDED, CarryOn, Claim, Fence, MAX_ELEMENTS, NewWorkflow, StepApplied, StepCommit,
    TaskError, TaskOutcome, TaskStatus, TaskType, WorkflowId, WorkflowStatus, retry_delay,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{Engine, until_true};
use crate::secrets::{Opened, Redactor, SECRETS_OFF};
use crate::tasks;
use crate::templates::{self, StepContext};

enum StepOutcome {
    Done(tasks::Success),
    Failed(TaskError),
    /// The lease was lost or the workflow cancelled: the result would be refused.
    Abandoned,
    /// Shutting down: the lease was handed back.
    Released,
}

/// What running a claimed task decided.
pub(super) enum Decided {
    /// Done (completed or skipped), with the output a sequential successor sees as `prev`.
    Done {
        step: StepCommit,
        output: Value,
    },
    Failed {
        step: StepCommit,
        error: TaskError,
    },
    /// Nothing to record (lease lost, cancelled, shutting down).
    Stop,
}

impl Decided {
    pub(super) fn failed(claim: &Claim, resolved: Option<Value>, error: TaskError) -> Self {
        let retry_in = retry_delay(claim, &error, rand::random::<f64>());
        Self::Failed {
            step: StepCommit::failed(claim, resolved, &error, retry_in, Fence::Held),
            error,
        }
    }
}

/// A `workflow` task at its turn: its child, named and given its input as the task's
/// `input.name` and `input.input` render, started in the task's step.
async fn start_child(claim: &Claim, context: &StepContext) -> Decided {
    let mut templated = serde_json::Map::new();
    for key in ["name", "input"] {
        if let Some(value) = claim.task.input.get(key) {
            templated.insert(key.to_owned(), value.clone());
        }
    }
    let templated = Value::Object(templated);
    let json = context.to_json();
    let rendered = tokio::task::spawn_blocking(move || templates::render(&templated, &json))
        .await
        .unwrap_or_else(|e| {
            Err(TaskError::permanent(
                "template",
                format!("rendering crashed: {e}"),
            ))
        });
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(error) => return Decided::failed(claim, None, error),
    };
    let name = match rendered.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(other) => Some(other.to_string()),
    };
    let input = rendered.get("input").cloned().unwrap_or_else(|| json!({}));
    let child = match NewWorkflow::child(claim, name, input) {
        Ok(child) => child,
        Err(error) => return Decided::failed(claim, Some(rendered), error),
    };
    match StepCommit::child_started(claim, rendered.clone(), child) {
        Ok(step) => Decided::Done {
            step,
            output: Value::Null,
        },
        Err(err) => Decided::failed(
            claim,
            Some(rendered),
            TaskError::permanent("invalid_input", format!("the child workflow: {err}")),
        ),
    }
}

/// A task with `for_each` at its turn: its elements, from the template (an array of at most
/// [`MAX_ELEMENTS`]); none completes it at once with `[]`.
async fn fan_out(claim: &Claim, context: &StepContext, carry_on: Option<&CarryOn>) -> Decided {
    let Some(template) = claim.task.for_each.clone() else {
        return Decided::Stop;
    };
    let json = context.to_json();
    let rendered = tokio::task::spawn_blocking(move || {
        templates::render(&Value::String(template), &json).map_err(|mut e| {
            e.message = e
                .message
                .replacen("template error in input", "`for_each`", 1);
            e
        })
    })
    .await
    .unwrap_or_else(|e| {
        Err(TaskError::permanent(
            "template",
            format!("rendering crashed: {e}"),
        ))
    });
    let items = match rendered {
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            let error = TaskError::permanent(
                "fan_out",
                format!("`for_each` must render to an array, and rendered to {other}"),
            );
            return Decided::failed(claim, None, error);
        }
        Err(error) => return Decided::failed(claim, None, error),
    };
    if items.len() > MAX_ELEMENTS {
        let error = TaskError::permanent(
            "fan_out",
            format!(
                "`for_each` rendered {} elements; a task fans out to at most {MAX_ELEMENTS}",
                items.len()
            ),
        );
        return Decided::failed(claim, None, error);
    }
    if items.is_empty() {
        return Decided::Done {
            step: StepCommit::completed(claim, Value::Null, json!([]), None, carry_on),
            output: json!([]),
        };
    }
    Decided::Done {
        step: StepCommit::expanded(claim, items, claim.task.max_parallel, carry_on),
        output: Value::Null,
    }
}

/// Why the claimed task must not run, if it must not: every task it depends on was skipped,
/// or its `when` rendered `false`. A `when` that renders to anything but a boolean fails it.
async fn skip_reason(claim: &Claim, context: &StepContext) -> Result<Option<String>, TaskError> {
    if let Some(deps) = &claim.task.depends_on
        && !deps.is_empty()
        && deps
            .iter()
            .all(|key| context.status_of(key) == Some(TaskStatus::Skipped))
    {
        return Ok(Some("every task it depends on was skipped".to_owned()));
    }
    let Some(when) = claim.task.when.clone() else {
        return Ok(None);
    };
    let json = context.to_json();
    let rendered = tokio::task::spawn_blocking(move || {
        templates::render(&Value::String(when), &json).map_err(|mut e| {
            e.message = e.message.replacen("template error in input", "`when`", 1);
            e
        })
    })
    .await
    .unwrap_or_else(|e| {
        Err(TaskError::permanent(
            "template",
            format!("rendering crashed: {e}"),
        ))
    })?;
    match rendered {
        Value::Bool(true) => Ok(None),
        Value::Bool(false) => Ok(Some("its `when` is false".to_owned())),
        other => Err(TaskError::permanent(
            "template",
            format!("`when` must render to true or false, and rendered to {other}"),
        )),
    }
}

impl StepOutcome {
    /// The outcome as a store can keep it ([`baton_domain::storable`]): NULs replaced, a value
    /// too large or too deep a permanent failure, error messages cleaned and cut.
    fn storable(self) -> Self {
        match self {
            Self::Done(tasks::Success { output, document }) => {
                let output = match baton_domain::storable("output", output) {
                    Ok(output) => output,
                    Err(error) => return Self::Failed(error),
                };
                let document = match document {
                    Some(mut document) => match baton_domain::storable("document", document.data) {
                        Ok(data) => {
                            document.data = data;
                            Some(document)
                        }
                        Err(error) => return Self::Failed(error),
                    },
                    None => None,
                };
                Self::Done(tasks::Success { output, document })
            }
            Self::Failed(error) => Self::Failed(baton_domain::storable_error(error)),
            other => other,
        }
    }

    /// The outcome as it may be kept: the values of the task's secrets hidden.
    fn redacted(self, redactor: &Redactor) -> Self {
        if redactor.is_empty() {
            return self;
        }
        match self {
            Self::Done(tasks::Success { output, document }) => Self::Done(tasks::Success {
                output: redactor.value(output),
                document: document.map(|mut d| {
                    d.data = redactor.value(d.data);
                    d
                }),
            }),
            Self::Failed(error) => Self::Failed(redactor.error(error)),
            other => other,
        }
    }
}

impl Engine {
    /// Runs the claimed task (or finds it must be skipped) and decides the step.
    pub(super) async fn decide(
        &self,
        claim: &Claim,
        context: &StepContext,
        cancel: &Notify,
    ) -> Decided {
        let carry_on = (!self.stopping()).then(|| CarryOn {
            worker: self.inner.config.worker_id.clone(),
            lease: self.inner.config.lease,
        });
        let fans_out = claim.task.for_each.is_some() && claim.task.parent_task_id.is_none();
        if fans_out && claim.task.elements.is_some() {
            return self.join(claim, carry_on.as_ref()).await;
        }
        let starts_child = claim.task.task_type == TaskType::Workflow;
        if let (true, Some(child)) = (starts_child, claim.task.child_workflow_id) {
            return self.join_child(claim, child, carry_on.as_ref()).await;
        }
        match skip_reason(claim, context).await {
            Ok(Some(reason)) => {
                tracing::info!(%reason, "task skipped");
                return Decided::Done {
                    step: StepCommit::skipped(claim, None, reason, carry_on.as_ref()),
                    output: Value::Null,
                };
            }
            Ok(None) => {}
            Err(error) => return Decided::failed(claim, None, error),
        }
        if fans_out {
            return fan_out(claim, context, carry_on.as_ref()).await;
        }
        if starts_child {
            return start_child(claim, context).await;
        }
        if matches!(claim.task.task_type, TaskType::Sleep | TaskType::Wait) {
            return self.wait_turn(claim, context, carry_on.as_ref()).await;
        }
        let (secrets, mut input) = match self.opened_input(claim, context).await {
            Ok(opened) => opened,
            Err(error) => return Decided::failed(claim, None, error),
        };
        // A template may render a NUL (`"\u0000"`): what is kept of the input is storable too.
        baton_domain::replace_nul(&mut input.shown);
        let redactor = secrets.redactor();
        let outcome = self
            .attempt(claim, &input.sent, context, &redactor, cancel)
            .await
            .redacted(&redactor)
            .storable();
        match outcome {
            StepOutcome::Done(success) => {
                let output = success.output.clone();
                Decided::Done {
                    step: StepCommit::completed(
                        claim,
                        input.shown,
                        success.output,
                        success.document,
                        carry_on.as_ref(),
                    ),
                    output,
                }
            }
            StepOutcome::Failed(error) if error.kind == BUDGET_EXCEEDED => {
                let detail = error.detail.unwrap_or(Value::Null);
                Decided::Done {
                    step: StepCommit::budget_parked(claim, input.shown, detail, carry_on.as_ref()),
                    output: Value::Null,
                }
            }
            StepOutcome::Failed(error) => Decided::failed(claim, Some(input.shown), error),
            StepOutcome::Abandoned | StepOutcome::Released => Decided::Stop,
        }
    }

    /// A fanned-out task whose elements are all done: its output is theirs, by index.
    async fn join(&self, claim: &Claim, carry_on: Option<&CarryOn>) -> Decided {
        let results = match self.inner.queue.element_results(claim.task.id).await {
            Ok(results) => results,
            Err(err) => {
                let error = TaskError::retryable(
                    "store",
                    format!("cannot read the outputs of the task's elements: {err}"),
                );
                return Decided::failed(claim, None, error);
            }
        };
        if let Some(open) = results.iter().find(|r| !r.status.is_done()) {
            let error = TaskError::permanent(
                "fan_out",
                format!(
                    "element {} of the fan-out is {}, not done: cannot join",
                    open.index, open.status
                ),
            );
            return Decided::failed(claim, None, error);
        }
        let output = Value::Array(
            results
                .into_iter()
                .map(|r| r.output.unwrap_or(Value::Null))
                .collect(),
        );
        Decided::Done {
            step: StepCommit::completed(
                claim,
                claim.task.resolved_input.clone().unwrap_or(Value::Null),
                output.clone(),
                None,
                carry_on,
            ),
            output,
        }
    }

    /// A `workflow` task whose child ended: its output is the child's; a failed or cancelled
    /// child fails the attempt (retried as the task's policy says, with a new child).
    async fn join_child(
        &self,
        claim: &Claim,
        child: WorkflowId,
        carry_on: Option<&CarryOn>,
    ) -> Decided {
        let outcome = match self.inner.queue.child_outcome(child).await {
            Ok(outcome) => outcome,
            Err(err) => {
                let error = TaskError::retryable(
                    "store",
                    format!("cannot read the child workflow {child}: {err}"),
                );
                return Decided::failed(claim, None, error);
            }
        };
        let resolved = claim.task.resolved_input.clone().unwrap_or(Value::Null);
        match outcome.status {
            WorkflowStatus::Completed => {
                let output = outcome.output.unwrap_or(Value::Null);
                Decided::Done {
                    step: StepCommit::completed(claim, resolved, output.clone(), None, carry_on),
                    output,
                }
            }
            status @ (WorkflowStatus::Failed | WorkflowStatus::Cancelled) => {
                let why = outcome
                    .error
                    .as_ref()
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                let error = TaskError::retryable(
                    "child_workflow",
                    format!("the child workflow {child} {status}{why}"),
                );
                Decided::failed(claim, Some(resolved), error)
            }
            status => {
                let error = TaskError::permanent(
                    "child_workflow",
                    format!("the child workflow {child} is {status}, not finished: cannot join"),
                );
                Decided::failed(claim, None, error)
            }
        }
    }

    /// Applies a failure; `true` when it was applied.
    pub(super) async fn record_failure(
        &self,
        step: &std::sync::Arc<StepCommit>,
        error: &TaskError,
    ) -> bool {
        match self.commit(step).await {
            Ok(StepApplied::Applied { .. }) => {
                match step.outcome {
                    TaskOutcome::Retry { after, .. } => {
                        tracing::info!(error = %error.message, retry_in = ?after, "attempt failed; retrying");
                    }
                    _ => tracing::info!(error = %error.message, "task failed"),
                }
                true
            }
            Ok(StepApplied::Lost) => {
                tracing::info!("failure discarded: the lease was lost");
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot record the failure");
                false
            }
        }
    }

    /// The task's input rendered, with the secrets its templates name opened for its owner.
    pub(super) async fn opened_input(
        &self,
        claim: &Claim,
        context: &StepContext,
    ) -> Result<(Opened, RenderedInput), TaskError> {
        let secrets = self.open_secrets(claim).await?;
        let input = render_input(claim, context, &secrets).await?;
        Ok((secrets, input))
    }

    /// The secrets the task's templates name, opened for its owner.
    async fn open_secrets(&self, claim: &Claim) -> Result<Opened, TaskError> {
        let names = templates::secret_names(&claim.task.input);
        if names.is_empty() {
            return Ok(Opened::default());
        }
        match &self.inner.secrets {
            Some(secrets) => secrets.open(claim.task.owner_id, &names).await,
            None => Err(TaskError::permanent("secret", SECRETS_OFF)),
        }
    }

    /// One attempt, raced against its time limit, lease loss, cancellation and shutdown.
    /// `resolved` is the input as sent; streamed text passes through `redactor`.
    async fn attempt(
        &self,
        claim: &Claim,
        resolved: &Value,
        context: &StepContext,
        redactor: &Redactor,
        cancel: &Notify,
    ) -> StepOutcome {
        let mut limit = Duration::from_millis(u64::try_from(claim.task.timeout_ms).unwrap_or(1));
        if claim.task.task_type == TaskType::Transform {
            limit = limit.min(self.inner.config.transform_timeout);
        }
        let deps = tasks::Deps {
            fetcher: self.inner.fetcher.as_ref(),
            llm: self.inner.llm.as_deref(),
            queue: self.inner.queue.as_ref(),
            signals: self.inner.signals.as_ref(),
            jq: &self.inner.jq,
            redactor,
            llm_policy: &self.inner.config.llm_policy,
            answers: &self.inner.answers,
        };
        let run = tasks::run(&deps, claim, resolved, context.to_json(), limit);
        let abort = self.inner.abort.subscribe();
        // Each task type enforces `limit` itself and says how it ran out; this is a backstop.
        let backstop = limit + Duration::from_secs(2);
        tokio::select! {
            result = tokio::time::timeout(backstop, run) => match result {
                Ok(Ok(success)) => StepOutcome::Done(success),
                Ok(Err(error)) => StepOutcome::Failed(error),
                Err(_) => StepOutcome::Failed(TaskError::retryable(
                    "timeout",
                    format!("the task did not finish within its timeout of {} ms", limit.as_millis()),
                )),
            },
            () = self.keep_lease(claim) => StepOutcome::Abandoned,
            () = cancel.notified() => {
                tracing::info!("workflow cancelled; stopping its running task");
                StepOutcome::Abandoned
            }
            () = until_true(abort) => {
                match self.inner.queue.release(claim).await {
                    Ok(_) => tracing::info!("shutting down: handed the task back"),
                    Err(err) => tracing::warn!(error = %err, "cannot hand the task back; its lease will expire"),
                }
                StepOutcome::Released
            }
        }
    }
}

/// A task's input, rendered.
pub(super) struct RenderedInput {
    /// With the values of its secrets: what the task sends.
    pub(super) sent: Value,
    /// With [`SECRET_MASK`](baton_domain::SECRET_MASK) in their place: what is kept and shown.
    pub(super) shown: Value,
}

/// Templates are rendered on the blocking pool: inputs may be large. With secrets, twice.
/// An input without templates is what it is: nothing to render, no context to build.
async fn render_input(
    claim: &Claim,
    context: &StepContext,
    secrets: &Opened,
) -> Result<RenderedInput, TaskError> {
    let input = claim.task.input.clone();
    if !templates::has_template(&input) {
        return Ok(RenderedInput {
            sent: input.clone(),
            shown: input,
        });
    }
    let mut context = context.to_json();
    let masked = (!secrets.is_empty()).then(|| secrets.masked());
    if !secrets.is_empty() {
        context["secrets"] = secrets.clear();
    }
    let redactor = secrets.redactor();
    tokio::task::spawn_blocking(move || {
        let sent = templates::render(&input, &context).map_err(|e| redactor.error(e))?;
        let shown = match masked {
            Some(masked) => {
                context["secrets"] = masked;
                templates::render(&input, &context).map_err(|e| redactor.error(e))?
            }
            None => sent.clone(),
        };
        Ok(RenderedInput { sent, shown })
    })
    .await
    .unwrap_or_else(|e| {
        Err(TaskError::permanent(
            "template",
            format!("rendering crashed: {e}"),
        ))
    })
}
