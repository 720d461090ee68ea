//! Starting and retrying a workflow with a concurrency key, and what a change of one frees:
//! its key rendered (at its first start; stored rendered from then on), how the key stands
//! read, the domain deciding whether it runs now or waits `queued`
//! ([`Workflow::admit_or_queue`]), and the store applying that: a start at once under the
//! key's lock and fenced like any admission, or the parking. A parked workflow is admitted at
//! once when a slot freed meanwhile.

use baton_domain::ports::{Signal, StoreError};
use baton_domain::{Concurrency, ConcurrencyKey, KeyedStart, Transition, Workflow, WorkflowStatus};

use super::Workflows;

impl Workflows {
    /// Applies `transition` (a start or retry of `workflow`, to running) under its concurrency
    /// key. `Stale` when the key or the workflow changed since they were read.
    pub(super) async fn keyed_start(
        &self,
        workflow: &Workflow,
        concurrency: &Concurrency,
        transition: Transition,
    ) -> Result<(), StoreError> {
        let key = if workflow.status == WorkflowStatus::Pending {
            crate::concurrency_key::render(concurrency, &workflow.input)?
        } else {
            ConcurrencyKey::new(concurrency.key.clone())?
        };
        // Whether any is queued is all the decision needs of the queue.
        let state = self.store.key_state(workflow.owner_id, &key, 1).await?;
        match workflow.admit_or_queue(transition, key.clone(), &state)? {
            KeyedStart::Run(admission) => {
                self.store.admit(&admission).await?;
                self.admissions.started(&admission);
            }
            KeyedStart::Queue(parked) => {
                self.store.apply_transition(&parked).await?;
                self.signals
                    .publish(Signal::EventsAppended(parked.workflow_id));
                // A slot may have freed between the read and the parking.
                self.admissions.admit_logged(workflow.owner_id, &key).await;
            }
        }
        Ok(())
    }

    /// After a change of `workflow` (as read) was applied: a running workflow with a
    /// concurrency key was cancelled, so its slot is free.
    pub(super) async fn after_transition(&self, workflow: &Workflow) {
        if workflow.status != WorkflowStatus::Running {
            return;
        }
        let Some(concurrency) = &workflow.concurrency else {
            return;
        };
        if let Ok(key) = ConcurrencyKey::new(concurrency.key.clone()) {
            self.admissions.admit_logged(workflow.owner_id, &key).await;
        }
    }
}
