//! Workers: claim, run under a lease, record, continue with the next task of the same workflow.
//! What a claimed task's turn decides (run it, skip it, fan out, start or join a child) is in
//! [`turn`].

mod alarm;
mod completer;
mod turn;
mod waits;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_domain::ports::{HttpFetcher, LlmClient, Signal, Signals, TaskQueue};
use baton_domain::{
    Claim, Fence, LeaseToken, StepApplied, StepCommit, StepResult, TaskError, TaskOutcome,
    WorkflowId, WorkflowOutcome, retry_delay,
};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::admission::Admissions;
use crate::jq::JqCache;
use crate::llm::{AnswerCache, LlmPolicy};
use crate::observer::{LlmUsage, Observer, TaskEnd};
use crate::secrets::Secrets;
use crate::templates::StepContext;

use turn::Decided;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Names this process in leases (`<worker>/<claim uuid>`).
    pub worker_id: String,
    /// Tasks run at once by this process.
    pub workers: usize,
    /// How long a claim holds a task without a heartbeat.
    pub lease: Duration,
    /// How often idle workers look for work when no notification arrives.
    pub poll: Duration,
    /// Models' prices and shared limits.
    pub llm_policy: LlmPolicy,
    /// The longest a transform's jq program runs (less when its task's `timeout_ms` is less).
    pub transform_timeout: Duration,
    /// The most decided steps committed together (see `completer`); 1 commits each alone.
    pub commit_batch: usize,
}

/// The most steps committed together unless configured otherwise.
pub const DEFAULT_COMMIT_BATCH: usize = 32;

/// Batches in flight to the store at once (measured: 1 lane drains a backlog 8% slower, 4 and 8
/// no faster; more workers make larger batches and do).
const COMMIT_LANES: usize = 2;

/// How long a transform's jq program may run unless configured otherwise.
pub const DEFAULT_TRANSFORM_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for EngineConfig {
    /// 16 workers, a 30 s lease, a 500 ms poll, transforms stopped after 10 s (DESIGN.md §6).
    fn default() -> Self {
        Self {
            worker_id: format!("baton-{}", std::process::id()),
            workers: 16,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            llm_policy: LlmPolicy::default(),
            transform_timeout: DEFAULT_TRANSFORM_TIMEOUT,
            commit_batch: DEFAULT_COMMIT_BATCH,
        }
    }
}

/// The executor of one process. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<dyn TaskQueue>,
    /// Where decided steps go, batched with those ready at the same time.
    completer: completer::Completer,
    fetcher: Arc<dyn HttpFetcher>,
    llm: Option<Arc<dyn LlmClient>>,
    signals: Arc<dyn Signals>,
    /// Where the secrets tasks name are opened; `None`: secrets are off.
    secrets: Option<Secrets>,
    /// Told when a step may have ended a workflow with a concurrency key.
    admissions: Option<Admissions>,
    jq: JqCache,
    /// The in-memory front of the response cache.
    answers: AnswerCache,
    /// Told how each run of a task ends (metrics).
    observer: Arc<dyn Observer>,
    config: EngineConfig,
    wake: Notify,
    /// When a task parked here wakes by itself.
    alarm: alarm::Alarm,
    slots: Arc<Semaphore>,
    /// `true` once shutting down: claim nothing more, continue no chain.
    stopping: watch::Sender<bool>,
    /// `true` when the grace period is over: abandon running tasks, releasing their leases.
    abort: watch::Sender<bool>,
    /// Runners by workflow, to stop at once when their workflow is cancelled.
    /// One notifier per workflow with running tasks here, and how many hold it (the branches of
    /// a workflow run at the same time).
    cancels: Mutex<HashMap<WorkflowId, (Arc<Notify>, usize)>>,
}

/// The running loops of an [`Engine`]; `shutdown` stops them gracefully.
pub struct EngineHandle {
    engine: Engine,
    loops: Vec<JoinHandle<()>>,
}

impl Engine {
    /// `llm`: `None` when no model is configured (llm tasks then fail, saying what to set).
    /// The engine hears `signals` (work queued, workflows cancelled) and publishes on them
    /// after each commit. `secrets`: where the secrets tasks name are opened (`None`: a task
    /// naming one fails, saying what to set). `admissions`: told when a step may have freed
    /// a slot of a concurrency key. `observer`: told how each run of a task ends.
    // One caller, the runtime builder, which names each part.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        queue: Arc<dyn TaskQueue>,
        fetcher: Arc<dyn HttpFetcher>,
        llm: Option<Arc<dyn LlmClient>>,
        signals: Arc<dyn Signals>,
        secrets: Option<Secrets>,
        admissions: Option<Admissions>,
        observer: Arc<dyn Observer>,
        config: EngineConfig,
    ) -> Self {
        let workers = config.workers.max(1);
        let completer = completer::Completer::new(queue.clone(), config.commit_batch, COMMIT_LANES);
        let engine = Self {
            inner: Arc::new(Inner {
                queue,
                completer,
                fetcher,
                llm,
                signals: signals.clone(),
                secrets,
                admissions,
                jq: JqCache::default(),
                answers: AnswerCache::default(),
                observer,
                slots: Arc::new(Semaphore::new(workers)),
                config: EngineConfig { workers, ..config },
                wake: Notify::new(),
                alarm: alarm::Alarm::default(),
                stopping: watch::channel(false).0,
                abort: watch::channel(false).0,
                cancels: Mutex::new(HashMap::new()),
            }),
        };
        let weak = Arc::downgrade(&engine.inner);
        signals.subscribe(Arc::new(move |signal| {
            let Some(inner) = weak.upgrade() else { return };
            let engine = Engine { inner };
            match signal {
                Signal::WorkQueued => engine.wake(),
                Signal::WorkflowCancelled(id) => engine.workflow_cancelled(id),
                Signal::EventsAppended(_) | Signal::KeysRevoked => {}
            }
        }));
        engine
    }

    /// Work may be waiting: look now rather than at the next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// A workflow was cancelled: stop its running task now.
    pub fn workflow_cancelled(&self, workflow_id: WorkflowId) {
        let notify = self
            .inner
            .cancels
            .lock()
            .ok()
            .and_then(|map| map.get(&workflow_id).map(|(n, _)| n.clone()));
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Starts claiming and running tasks, and the reaper of expired leases.
    pub fn start(&self) -> EngineHandle {
        let claimer = tokio::spawn(self.clone().claim_loop());
        let reaper = tokio::spawn(self.clone().reap_loop());
        EngineHandle {
            engine: self.clone(),
            loops: vec![claimer, reaper],
        }
    }

    fn stopping(&self) -> bool {
        *self.inner.stopping.borrow()
    }

    async fn claim_loop(self) {
        let inner = &self.inner;
        let mut stopping = inner.stopping.subscribe();
        loop {
            if self.stopping() {
                return;
            }
            let free = inner.slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = stopping.changed() => {}
                }
                continue;
            }
            let tokens: Vec<LeaseToken> = (0..free)
                .map(|_| LeaseToken::new(&inner.config.worker_id))
                .collect();
            let claimed = inner.queue.claim(&tokens, inner.config.lease).await;
            match claimed {
                Ok(claims) if !claims.is_empty() => {
                    for claim in claims {
                        inner
                            .signals
                            .publish(Signal::EventsAppended(claim.task.workflow_id));
                        let Ok(permit) = inner.slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let engine = self.clone();
                        let span = tracing::info_span!(
                            "task",
                            workflow_id = %claim.task.workflow_id,
                            task_id = %claim.task.id,
                        );
                        tokio::spawn(
                            async move {
                                engine.run_chain(claim).await;
                                drop(permit);
                                engine.inner.wake.notify_one();
                            }
                            .instrument(span),
                        );
                    }
                }
                Ok(_) => {
                    let until = inner.alarm.idle_until(inner.config.poll);
                    tokio::select! {
                        _ = inner.wake.notified() => {}
                        _ = tokio::time::sleep_until(until) => {}
                        _ = stopping.changed() => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim tasks; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(inner.config.poll) => {}
                        _ = stopping.changed() => {}
                    }
                }
            }
        }
    }

    /// Re-queues (or fails, when out of attempts) tasks whose worker stopped heartbeating.
    async fn reap_loop(self) {
        let inner = &self.inner;
        let mut stopping = inner.stopping.subscribe();
        let every = (inner.config.lease / 2).max(inner.config.poll);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.changed() => return,
            }
            let expired = match inner.queue.expired(100).await {
                Ok(expired) => expired,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot look for expired leases");
                    continue;
                }
            };
            for claim in expired {
                let error = TaskError::retryable(
                    "lease_expired",
                    "the worker running this task stopped answering (its lease expired)",
                );
                let retry_in = retry_delay(&claim, &error, rand::random::<f64>());
                let step = Arc::new(StepCommit::failed(
                    &claim,
                    None,
                    &error,
                    retry_in,
                    Fence::Expired,
                ));
                match self.commit(&step).await {
                    Ok(StepApplied::Applied { .. }) => {
                        inner
                            .observer
                            .lease_expired(claim.task.task_type, end_of(&step.outcome));
                        tracing::warn!(
                            task_id = %claim.task.id,
                            lease = %claim.token,
                            "re-queued a task whose lease expired"
                        );
                    }
                    Ok(StepApplied::Lost) => {}
                    Err(err) => tracing::warn!(error = %err, "cannot re-queue an expired task"),
                }
            }
            self.wake();
        }
    }

    /// Runs a claimed task, then the tasks handed over in the same transaction as its result (a
    /// task it made ready, or another workflow's when none).
    async fn run_chain(&self, mut claim: Claim) {
        // What templates see; carried along while the chain stays in one sequential workflow.
        let mut carried: Option<StepContext> = None;
        let span = tracing::Span::current();
        loop {
            let workflow_id = claim.task.workflow_id;
            span.record("workflow_id", tracing::field::display(workflow_id));
            span.record("task_id", tracing::field::display(claim.task.id));
            let mut context = match carried.take() {
                Some(context) => context,
                None => match self.load_context(&claim).await {
                    Ok(context) => context,
                    Err(err) => {
                        // The lease expires and the task runs again elsewhere.
                        tracing::warn!(error = %err, "cannot load the task's context");
                        return;
                    }
                },
            };
            let task_type = claim.task.task_type;
            let began = std::time::Instant::now();
            self.inner.observer.task_started(task_type);
            let cancel = self.register(workflow_id);
            let decided = self.decide(&claim, &context, &cancel).await;
            self.unregister(workflow_id, &cancel);
            let (step, output) = match decided {
                Decided::Done { step, output } => (Arc::new(step), output),
                Decided::Failed { step, error } => {
                    let step = Arc::new(step);
                    if self.record_failure(&step, &error).await {
                        let end = end_of(&step.outcome);
                        self.inner
                            .observer
                            .task_ended(task_type, end, began.elapsed());
                    }
                    return;
                }
                Decided::Stop => return,
            };
            let committed = self.commit(&step).await;
            if let Ok(StepApplied::Applied { .. }) = &committed {
                self.observe_end(task_type, &step.outcome, &output, began);
            }
            match committed {
                Ok(StepApplied::Applied { next: Some(next) }) => {
                    // A sequential successor sees what this task saw, and this task's output
                    // (not so between the elements of a fan-out: each sees its parent's).
                    if next.task.workflow_id == workflow_id
                        && step.status().is_done()
                        && next.task.depends_on.is_none()
                        && claim.task.parent_task_id.is_none()
                        && next.task.parent_task_id.is_none()
                    {
                        context.push(&StepResult {
                            position: claim.task.position,
                            key: claim.task.key.clone(),
                            status: step.status(),
                            output: Some(output),
                        });
                        carried = Some(context);
                    }
                    claim = *next;
                }
                Ok(StepApplied::Applied { next: None }) => return,
                Ok(StepApplied::Lost) => {
                    tracing::info!(
                        "result discarded: the lease was lost or the workflow cancelled"
                    );
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot record the result; the task will run again");
                    return;
                }
            }
        }
    }

    /// Tells the observer how an applied run ended (and what an llm task used).
    fn observe_end(
        &self,
        task_type: baton_domain::TaskType,
        outcome: &TaskOutcome,
        output: &Value,
        began: std::time::Instant,
    ) {
        let observer = &self.inner.observer;
        let end = end_of(outcome);
        observer.task_ended(task_type, end, began.elapsed());
        if end == TaskEnd::Completed
            && task_type == baton_domain::TaskType::Llm
            && let Some(mut usage) = LlmUsage::from_output(output)
        {
            // Priced as the ledger prices it: a cached answer cost nothing.
            let cached = output.get("cached").and_then(Value::as_bool) == Some(true);
            usage.cost_usd = if cached {
                Some(0.0)
            } else {
                self.inner
                    .config
                    .llm_policy
                    .price(&usage.model)
                    .map(|p| p.cost(usage.prompt_tokens, usage.completion_tokens))
            };
            observer.llm_used(&usage);
        }
    }

    /// Applies a decided step, then tells this process what it changed at once (other
    /// instances hear it through the store's signals).
    #[tracing::instrument(skip_all, fields(workflow_id = %step.workflow_id, task_id = %step.task_id))]
    async fn commit(
        &self,
        step: &Arc<StepCommit>,
    ) -> Result<StepApplied, baton_domain::ports::StoreError> {
        let applied = self.inner.completer.apply(step.clone()).await?;
        if let StepApplied::Applied { next } = &applied {
            let signals = &self.inner.signals;
            signals.publish(Signal::EventsAppended(step.workflow_id));
            if let Some(next) = next
                && next.task.workflow_id != step.workflow_id
            {
                signals.publish(Signal::EventsAppended(next.task.workflow_id));
            }
            if step.queues_work() {
                signals.publish(Signal::WorkQueued);
            }
            if let TaskOutcome::Wait {
                until: Some(until), ..
            } = step.outcome
            {
                self.inner.alarm.set(until);
                self.inner.wake.notify_one();
            }
            if step
                .events
                .iter()
                .any(|e| matches!(e.kind, baton_domain::EventKind::BudgetExceeded { .. }))
            {
                // A resume that came between the pause and this park found nothing to wake.
                match self.inner.queue.wake_unpaused(step.workflow_id).await {
                    Ok(true) => signals.publish(Signal::WorkQueued),
                    Ok(false) => {}
                    Err(err) => tracing::warn!(error = %err, "cannot check the workflow's pause"),
                }
            }
            if matches!(step.workflow, WorkflowOutcome::Failed { .. }) {
                // Its other running tasks were cancelled with it: stop them now.
                signals.publish(Signal::WorkflowCancelled(step.workflow_id));
            }
            if let (Some((owner, key)), Some(admissions)) =
                (&step.frees_slot, &self.inner.admissions)
            {
                admissions.freed(*owner, key);
            }
        }
        Ok(applied)
    }

    /// What the claimed task's templates see: in a sequential workflow the tasks before it,
    /// `prev` the one just before; with `depends_on`, the workflow's done tasks (the checks let
    /// templates name only its dependencies, direct or not), `prev` its one dependency's.
    async fn load_context(
        &self,
        claim: &Claim,
    ) -> Result<StepContext, baton_domain::ports::StoreError> {
        let mut context = StepContext::new(
            claim.task.workflow_id.to_string(),
            claim.workflow_name.clone(),
            claim.workflow_input.clone(),
        );
        let task = &claim.task;
        if let Some(index) = task.element_index {
            context.item = Some(task.item.clone().unwrap_or(Value::Null));
            context.index = Some(index);
        }
        let before = match task.depends_on {
            None if task.position == 0 => return Ok(context),
            None => task.position,
            Some(_) => i32::MAX,
        };
        let steps = self
            .inner
            .queue
            .steps_before(task.workflow_id, before)
            .await?;
        match &task.depends_on {
            None => steps
                .iter()
                .filter(|s| s.status.is_done())
                .for_each(|s| context.push(s)),
            Some(deps) => {
                steps
                    .iter()
                    .filter(|s| s.status.is_done())
                    .for_each(|s| context.record(s));
                if let [only] = deps.as_slice() {
                    context.prev = context.output_of(only);
                }
            }
        }
        Ok(context)
    }

    /// Heartbeats until the lease is lost (returns) — never returns while it is held.
    async fn keep_lease(&self, claim: &Claim) {
        let lease = self.inner.config.lease;
        let every = lease / 3;
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(every).await;
            match self.inner.queue.heartbeat(claim, lease).await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::info!("lease lost or task cancelled; abandoning the attempt");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "heartbeat failed");
                    if last_ok.elapsed() >= lease {
                        return;
                    }
                }
            }
        }
    }

    fn register(&self, workflow_id: WorkflowId) -> Arc<Notify> {
        match self.inner.cancels.lock() {
            Ok(mut map) => {
                let entry = map
                    .entry(workflow_id)
                    .or_insert_with(|| (Arc::new(Notify::new()), 0));
                entry.1 += 1;
                entry.0.clone()
            }
            Err(_) => Arc::new(Notify::new()),
        }
    }

    fn unregister(&self, workflow_id: WorkflowId, notify: &Arc<Notify>) {
        if let Ok(mut map) = self.inner.cancels.lock()
            && let Some((held, count)) = map.get_mut(&workflow_id)
            && Arc::ptr_eq(held, notify)
        {
            *count -= 1;
            if *count == 0 {
                map.remove(&workflow_id);
            }
        }
    }
}

impl EngineHandle {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops claiming, lets running tasks finish within `grace`, then hands the leases of the
    /// rest back to the queue.
    pub async fn shutdown(self, grace: Duration) {
        let inner = &self.engine.inner;
        inner.stopping.send_replace(true);
        let workers = u32::try_from(inner.config.workers).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(grace, inner.slots.acquire_many(workers)).await;
        if drained.is_err() {
            tracing::warn!("grace period over: handing running tasks back");
            inner.abort.send_replace(true);
            let _ =
                tokio::time::timeout(Duration::from_secs(10), inner.slots.acquire_many(workers))
                    .await;
        }
        for handle in self.loops {
            handle.abort();
        }
    }
}

/// Resolves when the watched flag becomes `true` (never, if its sender is gone).
/// How an applied step ended the run of its task.
fn end_of(outcome: &TaskOutcome) -> TaskEnd {
    match outcome {
        TaskOutcome::Completed { .. } => TaskEnd::Completed,
        TaskOutcome::Skipped { .. } => TaskEnd::Skipped,
        TaskOutcome::Retry { .. } => TaskEnd::Retried,
        TaskOutcome::Failed { .. } => TaskEnd::Failed,
        TaskOutcome::Expand { .. } | TaskOutcome::StartChild { .. } | TaskOutcome::Wait { .. } => {
            TaskEnd::Parked
        }
    }
}

async fn until_true(mut flag: watch::Receiver<bool>) {
    loop {
        if *flag.borrow_and_update() {
            return;
        }
        if flag.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
