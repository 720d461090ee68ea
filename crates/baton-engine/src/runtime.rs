//! An engine you can embed: the ports in, the use cases, live events and running workers out,
//! with no HTTP server. `baton-server` is this runtime plus HTTP.
//!
//! ```ignore
//! let runtime = Runtime::builder(store.clone(), store.clone(), store)
//!     .signals(signals)
//!     .fetcher(fetcher)
//!     .config(config)
//!     .start();
//! let workflow = runtime.workflows().create(new_workflow, true).await?;
//! let mut feed = runtime.events().subscribe(workflow.id).await?;
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use baton_domain::ports::{
    Clock, DefinitionStore, EventLog, HttpFetcher, LlmClient, LocalSignals, ScheduleStore, Signals,
    SystemClock, TaskQueue, WorkflowStore,
};
use baton_domain::{FetchRequest, FetchResponse, TaskError};
use tokio::task::JoinHandle;

use crate::observer::{NoObserver, Observer};
use crate::scheduler::Scheduler;
use crate::{
    Definitions, Engine, EngineConfig, EngineHandle, EventHub, Schedules, Secrets, Workflows,
};

/// How often the scheduler looks for due schedules by default.
pub const DEFAULT_SCHEDULER_POLL: Duration = Duration::from_millis(250);

/// What a [`Runtime`] is built from; see [`Runtime::builder`].
pub struct RuntimeBuilder {
    store: Arc<dyn WorkflowStore>,
    queue: Arc<dyn TaskQueue>,
    log: Arc<dyn EventLog>,
    signals: Option<Arc<dyn Signals>>,
    fetcher: Option<Arc<dyn HttpFetcher>>,
    llm: Option<Arc<dyn LlmClient>>,
    clock: Arc<dyn Clock>,
    secrets: Option<Secrets>,
    config: EngineConfig,
    event_poll: Duration,
    admission_poll: Duration,
    schedules: Option<(Arc<dyn DefinitionStore>, Arc<dyn ScheduleStore>)>,
    scheduler_poll: Duration,
    observer: Arc<dyn Observer>,
}

/// Baton without HTTP: use cases, event subscriptions and (with workers) the executor.
pub struct Runtime {
    workflows: Workflows,
    secrets: Option<Secrets>,
    events: Arc<EventHub>,
    signals: Arc<dyn Signals>,
    clock: Arc<dyn Clock>,
    engine: Option<EngineHandle>,
    fallback: JoinHandle<()>,
    admission: JoinHandle<()>,
    definitions: Option<Definitions>,
    schedules: Option<Schedules>,
    scheduler: Option<JoinHandle<()>>,
}

/// Fetch tasks fail when no HTTP client was given to the runtime.
struct NoFetcher;

#[async_trait]
impl HttpFetcher for NoFetcher {
    async fn fetch(&self, _request: FetchRequest) -> Result<FetchResponse, TaskError> {
        Err(TaskError::permanent(
            "invalid_input",
            "this Baton runtime has no HTTP client for fetch tasks",
        ))
    }
}

impl Runtime {
    /// A builder over the stores (often one value implementing all three). Defaults: signals
    /// within this process only, no HTTP client, no language model, the system clock, and
    /// [`EngineConfig::default`].
    pub fn builder(
        store: Arc<dyn WorkflowStore>,
        queue: Arc<dyn TaskQueue>,
        log: Arc<dyn EventLog>,
    ) -> RuntimeBuilder {
        RuntimeBuilder {
            store,
            queue,
            log,
            signals: None,
            fetcher: None,
            llm: None,
            clock: Arc::new(SystemClock),
            secrets: None,
            config: EngineConfig::default(),
            event_poll: Duration::from_secs(2),
            admission_poll: Duration::from_millis(250),
            schedules: None,
            scheduler_poll: DEFAULT_SCHEDULER_POLL,
            observer: Arc::new(NoObserver),
        }
    }

    /// Creating, reading, editing, starting, cancelling and retrying workflows.
    pub fn workflows(&self) -> &Workflows {
        &self.workflows
    }

    /// The secrets' use cases, when the runtime has them.
    pub fn secrets(&self) -> Option<&Secrets> {
        self.secrets.as_ref()
    }

    /// Workflow definitions, when the runtime has their store.
    pub fn definitions(&self) -> Option<&Definitions> {
        self.definitions.as_ref()
    }

    /// Schedules, when the runtime has their store (its scheduler fires them).
    pub fn schedules(&self) -> Option<&Schedules> {
        self.schedules.as_ref()
    }

    /// Live events of workflows (history through [`EventHub::log`]).
    pub fn events(&self) -> &Arc<EventHub> {
        &self.events
    }

    pub fn signals(&self) -> &Arc<dyn Signals> {
        &self.signals
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether this runtime runs tasks (it has workers).
    pub fn runs_tasks(&self) -> bool {
        self.engine.is_some()
    }

    /// Stops claiming, lets running tasks finish within `grace`, hands the rest back, and ends
    /// live event streams.
    pub async fn shutdown(self, grace: Duration) {
        self.events.close();
        if let Some(scheduler) = self.scheduler {
            scheduler.abort();
        }
        if let Some(engine) = self.engine {
            engine.shutdown(grace).await;
        }
        self.fallback.abort();
        self.admission.abort();
    }
}

impl RuntimeBuilder {
    /// How this process hears other instances (e.g. Postgres LISTEN/NOTIFY).
    pub fn signals(mut self, signals: Arc<dyn Signals>) -> Self {
        self.signals = Some(signals);
        self
    }

    pub fn fetcher(mut self, fetcher: Arc<dyn HttpFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// `None`: workflows with an llm task are refused, saying which variables to set.
    pub fn llm(mut self, llm: Option<Arc<dyn LlmClient>>) -> Self {
        self.llm = llm;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The secrets templates may name (`{{ secrets.NAME }}`); without, naming one is refused.
    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Workers (0: this runtime runs no task, as an API-only instance), lease and poll.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Definitions and schedules (often the same store value): the runtime gets their use
    /// cases and runs a scheduler, which fires due schedules on this instance (every instance
    /// may: each tick fires once, fenced in the store).
    pub fn schedules(
        mut self,
        definitions: Arc<dyn DefinitionStore>,
        schedules: Arc<dyn ScheduleStore>,
    ) -> Self {
        self.schedules = Some((definitions, schedules));
        self
    }

    /// Told how each run of a task ends, for metrics (default: nobody).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// How often the scheduler looks for due schedules (default 250 ms).
    pub fn scheduler_poll(mut self, every: Duration) -> Self {
        self.scheduler_poll = every;
        self
    }

    /// How often live event streams look for events when no signal came (default 2 s).
    pub fn event_poll(mut self, every: Duration) -> Self {
        self.event_poll = every;
        self
    }

    /// How often every key with queued workflows is looked at, so that none waits for a slot
    /// freed by a process that stopped before admitting (default 250 ms).
    pub fn admission_poll(mut self, every: Duration) -> Self {
        self.admission_poll = every;
        self
    }

    /// Starts the workers (when there are any), the event fallback poll and the admission
    /// sweep; needs a Tokio runtime.
    pub fn start(self) -> Runtime {
        let signals = self
            .signals
            .unwrap_or_else(|| Arc::new(LocalSignals::new()));
        let events = EventHub::new(self.log);
        events.listen(signals.as_ref());
        let fallback = events.spawn_fallback(self.event_poll);
        let llm_configured = self.llm.is_some();
        let mut workflows = Workflows::new(self.store, signals.clone(), llm_configured);
        if let Some(secrets) = self.secrets.clone() {
            workflows = workflows.with_secrets(secrets);
        }
        let admissions = workflows.admissions().clone();
        let admission = admissions.spawn(self.admission_poll);
        let engine = (self.config.workers > 0).then(|| {
            Engine::new(
                self.queue,
                self.fetcher.unwrap_or_else(|| Arc::new(NoFetcher)),
                self.llm,
                signals.clone(),
                self.secrets.clone(),
                Some(admissions),
                self.observer,
                self.config,
            )
            .start()
        });
        let (definitions, schedules, scheduler) = match self.schedules {
            Some((definition_store, schedule_store)) => {
                let scheduler = Scheduler {
                    schedules: schedule_store.clone(),
                    definitions: definition_store.clone(),
                    workflows: workflows.clone(),
                    signals: signals.clone(),
                    clock: self.clock.clone(),
                    poll: self.scheduler_poll,
                }
                .spawn();
                (
                    Some(Definitions::new(
                        definition_store.clone(),
                        workflows.clone(),
                    )),
                    Some(Schedules::new(
                        schedule_store,
                        definition_store,
                        self.clock.clone(),
                    )),
                    Some(scheduler),
                )
            }
            None => (None, None, None),
        };
        Runtime {
            secrets: self.secrets,
            workflows,
            events,
            signals,
            clock: self.clock,
            engine,
            fallback,
            admission,
            definitions,
            schedules,
            scheduler,
        }
    }
}
