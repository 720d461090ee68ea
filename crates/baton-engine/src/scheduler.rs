//! The scheduler: one loop per runtime, on every instance. Each poll it reads the due
//! schedules, lets the domain decide each one's firing ([`Schedule::fire`]), builds the tick's
//! run from the definition, and has the store apply it fenced on the `next_fire_at` it was
//! decided from ([`ScheduleStore::fire_schedule`]). Instances racing for one tick all decide
//! the same; the store lets one apply. Nothing about ticks is kept in this process.

use std::sync::Arc;
use std::time::Duration;

use baton_domain::ports::{Clock, DefinitionStore, ScheduleStore, Signal, Signals, StoreError};
use baton_domain::{DefinitionName, FireOutcome, Firing, Schedule, ScheduleFire};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::Workflows;

/// At most this many due schedules are read per poll.
const BATCH: u32 = 64;

/// Everything the scheduler needs.
pub(crate) struct Scheduler {
    pub(crate) schedules: Arc<dyn ScheduleStore>,
    pub(crate) definitions: Arc<dyn DefinitionStore>,
    pub(crate) workflows: Workflows,
    pub(crate) signals: Arc<dyn Signals>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) poll: Duration,
}

/// Why a tick cannot have its run.
enum Refusal {
    /// For good: the schedule is paused with this reason.
    Pause(String),
    /// For now (the store did not answer): the next poll tries again.
    Later(StoreError),
}

impl Scheduler {
    pub(crate) fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            // The first poll after one interval: an instance starting sends no statement of
            // its own before then.
            let mut busy = false;
            loop {
                if !busy {
                    tokio::time::sleep(self.poll).await;
                }
                busy = match self.poll_once().await {
                    Ok(again) => again,
                    Err(err) => {
                        tracing::warn!(error = %err, "the scheduler could not read due schedules");
                        false
                    }
                };
            }
        })
    }

    /// Fires what is due now; whether more may be due at once (a full batch, or a late tick
    /// followed by another one already due: they fire one by one).
    async fn poll_once(&self) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let due = self.schedules.due_schedules(now, BATCH).await?;
        let mut again = due.len() == BATCH as usize;
        for schedule in &due {
            if let Some(firing) = schedule.fire(now) {
                again |= firing.next.is_some_and(|next| next <= now);
                self.fire(schedule, &firing).await;
            }
        }
        Ok(again)
    }

    async fn fire(&self, schedule: &Schedule, firing: &Firing) {
        let fire = match firing.tick {
            None if firing.next.is_none() && schedule.spec().is_err() => ScheduleFire::pause(
                firing,
                schedule.id,
                "its cron expression or time zone no longer parses".into(),
            ),
            None => ScheduleFire::skip(firing, schedule.id),
            Some(tick) => match self.run(schedule, firing, tick).await {
                Ok(fire) => fire,
                Err(Refusal::Pause(reason)) => ScheduleFire::pause(firing, schedule.id, reason),
                Err(Refusal::Later(err)) => {
                    tracing::warn!(schedule_id = %schedule.id, error = %err, "a due schedule waits for the store");
                    return;
                }
            },
        };
        match self.schedules.fire_schedule(&fire).await {
            Ok(true) => self.fired(schedule, &fire),
            Ok(false) => {
                tracing::debug!(schedule_id = %schedule.id, "another instance fired this tick");
            }
            Err(err) => {
                tracing::warn!(schedule_id = %schedule.id, error = %err, "firing a schedule failed");
            }
        }
    }

    /// The firing that starts the run of `tick`, built from the definition as it is now.
    async fn run(
        &self,
        schedule: &Schedule,
        firing: &Firing,
        tick: DateTime<Utc>,
    ) -> Result<ScheduleFire, Refusal> {
        let which = match schedule.version {
            Some(version) => format!("{} (version {version})", schedule.definition),
            None => schedule.definition.clone(),
        };
        let name = DefinitionName::new(&schedule.definition)
            .map_err(|e| Refusal::Pause(format!("the definition {which}: {e}")))?;
        let definition = match self
            .definitions
            .get_definition(schedule.owner_id, &name, schedule.version)
            .await
        {
            Ok(definition) => definition,
            Err(StoreError::NotFound(_)) => {
                return Err(Refusal::Pause(format!(
                    "the definition {which} no longer exists"
                )));
            }
            Err(err) => return Err(Refusal::Later(err)),
        };
        let refused = |e: &dyn std::fmt::Display| {
            Refusal::Pause(format!(
                "version {} of the definition {} no longer makes a valid workflow: {e}",
                definition.version, definition.name
            ))
        };
        let workflow = schedule.run(&definition, tick).map_err(|e| refused(&e))?;
        match self.workflows.validate(&workflow).await {
            Ok(()) => {}
            Err(StoreError::Invalid(e)) => return Err(refused(&e)),
            Err(err) => return Err(Refusal::Later(err)),
        }
        ScheduleFire::run(firing, schedule.id, workflow, tick).map_err(|e| refused(&e))
    }

    /// Tells this process of the started run (other instances hear it from the store).
    fn fired(&self, schedule: &Schedule, fire: &ScheduleFire) {
        match &fire.outcome {
            FireOutcome::Run { workflow, tick, .. } => {
                tracing::info!(schedule_id = %schedule.id, workflow_id = %workflow.id(), %tick, "a schedule started a run");
                self.signals.publish(Signal::EventsAppended(workflow.id()));
                self.signals.publish(Signal::WorkQueued);
            }
            FireOutcome::Pause { reason } => {
                tracing::warn!(schedule_id = %schedule.id, %reason, "a schedule was paused");
            }
            FireOutcome::Skip => {
                tracing::info!(schedule_id = %schedule.id, "a schedule skipped missed ticks");
            }
        }
    }
}
