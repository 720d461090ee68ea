#![doc = include_str!("../README.md")]
// Test scaffolding: a contract that does not hold fails its test loudly, at the line that
// checked it, so unwrap and expect are the point here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Deref;

use async_trait::async_trait;
use baton_domain::ports::{
    DefinitionStore, DocumentStore, EventLog, IdempotencyStore, ScheduleStore, SecretStore,
    TaskQueue, UserStore, WorkflowStore,
};

pub mod auth;
pub mod batches;
pub mod budget;
pub mod children;
pub mod claims;
pub mod concurrency;
pub mod definitions;
pub mod documents;
pub mod edits;
pub mod events;
pub mod failures;
pub mod fan_out;
pub mod fencing;
pub mod graph;
pub mod idempotency;
pub mod leases;
pub mod llm;
pub mod pages;
pub mod queue;
pub mod retries;
pub mod schedules;
pub mod secrets;
pub mod steps;
pub mod support;
pub mod transitions;
pub mod waits;
pub mod workflows;

/// Everything a store adapter implements: the ports the suite checks, on one cloneable value
/// (clones share the backend, as the engine's workers do).
pub trait ConformantStore:
    WorkflowStore
    + TaskQueue
    + EventLog
    + DocumentStore
    + UserStore
    + IdempotencyStore
    + SecretStore
    + DefinitionStore
    + ScheduleStore
    + Clone
{
}

impl<T> ConformantStore for T where
    T: WorkflowStore
        + TaskQueue
        + EventLog
        + DocumentStore
        + UserStore
        + IdempotencyStore
        + SecretStore
        + DefinitionStore
        + ScheduleStore
        + Clone
{
}

/// Makes stores for the suite. Each call gives a fresh, empty, migrated store of its own (its
/// own database), so the tests can run in parallel.
#[async_trait]
pub trait StoreFactory: Send + Sync + 'static {
    type Store: ConformantStore;
    /// Held for as long as the test runs; dropping it deletes the store's database.
    type Guard: Send + 'static;

    async fn store(&self) -> Fresh<Self::Store, Self::Guard>;

    /// Whether the store can be had here (a server-backed store may be absent on a developer's
    /// machine). `false`: the contracts are not run; the factory says so, once, and may refuse
    /// instead when its run requires the store.
    async fn available(&self) -> bool {
        true
    }
}

/// A fresh store and the guard of its database. Derefs to the store; dropped at the end of a
/// test, it drops the store first, then the guard (which deletes the database).
pub struct Fresh<S, G> {
    store: S,
    _guard: G,
}

impl<S, G> Fresh<S, G> {
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: guard,
        }
    }

    /// The store (also reachable through `Deref`).
    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<S, G> Deref for Fresh<S, G> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.store
    }
}

/// Expands to one `#[tokio::test(flavor = "multi_thread")]` per contract of the suite, each
/// running the contract against a fresh store made by `$factory` (an expression evaluated per
/// test, whose type implements [`StoreFactory`]).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@contracts $factory;
            workflows::create_get_list_round_trip,
            workflows::create_with_start_applies_the_start,
            workflows::other_owners_see_nothing,
            claims::claims_are_exclusive_under_concurrency,
            claims::claims_take_the_oldest_queued_tasks_first,
            fencing::a_step_under_another_token_is_lost,
            fencing::cancel_fences_out_the_running_claim,
            leases::expired_leases_are_reported_and_reaped,
            leases::the_expired_fence_needs_an_expired_lease,
            leases::heartbeat_extends_a_held_lease,
            leases::release_requeues_without_counting_the_attempt,
            queue::queue_stats_count_the_runnable_tasks_and_the_oldest,
            retries::retry_times_are_kept_by_the_store_clock,
            steps::completing_a_step_carries_on_to_the_successor,
            steps::then_claim_claims_a_task_of_another_workflow,
            batches::a_batch_answers_each_step_as_alone,
            documents::a_completed_step_writes_its_document_once,
            failures::failing_for_good_fails_the_workflow_and_retry_requeues_it,
            graph::a_start_decided_before_an_edit_is_stale,
            graph::a_diamond_releases_the_join_once,
            graph::the_workflow_output_is_the_output_task_s,
            graph::carrying_on_claims_a_ready_dependent,
            graph::failing_for_good_cancels_running_siblings,
            graph::a_skipped_task_is_done_with_a_null_output,
            graph::start_wires_every_task,
            graph::edits_keep_depends_on_and_when,
            fan_out::expanding_stores_the_elements_and_waits,
            fan_out::elements_release_the_next_and_the_last_releases_the_parent,
            fan_out::concurrent_last_elements_release_the_parent_once,
            fan_out::a_failed_element_fails_the_workflow_and_retry_reruns_only_it,
            fan_out::cancelling_cancels_the_elements,
            fan_out::deleting_a_workflow_deletes_its_elements,
            children::starting_a_child_stores_it_started_and_waits,
            children::a_completed_child_releases_its_parent_task,
            children::a_failed_child_releases_its_parent_task_to_fail,
            children::cancelling_the_parent_cancels_the_child,
            children::cancelling_the_child_releases_the_parent_task,
            children::a_child_ending_after_its_parent_failed_cancels_the_waiting_task,
            children::the_child_s_last_step_races_a_cancel_of_the_parent,
            concurrency::a_start_beyond_the_limit_queues,
            concurrency::admission_starts_the_oldest_first,
            concurrency::a_stale_admission_changes_nothing,
            concurrency::concurrent_admissions_never_exceed_the_limit,
            concurrency::keys_are_per_owner,
            transitions::transitions_apply_only_from_their_status,
            transitions::transitions_of_missing_workflows_are_not_found,
            edits::stale_edits_change_nothing,
            edits::edits_bump_the_version_and_keep_positions_dense,
            edits::deleting_a_workflow_removes_its_tasks,
            events::events_are_complete_and_in_commit_order,
            events::events_after_gives_exactly_the_suffix,
            pages::workflow_pages_are_stable_under_inserts,
            pages::workflows_filter_by_name,
            pages::task_pages_are_stable_under_inserts,
            auth::users_and_credentials,
            auth::the_first_user_is_created_once,
            auth::api_keys_act_as_their_owner_until_revoked,
            idempotency::idempotency_keys_begin_complete_and_replay,
            idempotency::idempotency_keys_are_per_principal_and_released,
            idempotency::concurrent_begins_start_once,
            secrets::secrets_round_trip,
            secrets::secrets_belong_to_their_owner,
            secrets::put_creates_then_replaces,
            secrets::concurrent_puts_create_once,
            secrets::sealed_secrets_returns_only_what_exists,
            secrets::deleted_secrets_are_gone,
            secrets::secret_pages_are_stable,
            waits::a_parked_task_waits_for_its_time,
            waits::a_signal_wakes_its_wait_and_is_consumed_once,
            waits::a_park_after_its_signal_is_runnable_at_once,
            waits::signals_are_fenced_by_status_and_retry_waits_again,
            llm::ledger_lines_add_up_per_task_model_and_owner,
            llm::cached_answers_expire_and_are_replaced,
            llm::a_models_pace_is_shared_and_held,
            budget::reservations_keep_calls_in_flight_within_the_budget,
            budget::resuming_queues_the_tasks_the_budget_parked,
            definitions::versions_increase_by_one_and_old_versions_stay_readable,
            definitions::names_are_per_owner_and_scope_hides_others,
            definitions::deleting_removes_every_version_unless_a_schedule_runs_it,
            schedules::a_schedule_needs_its_owner_s_definition,
            schedules::a_fired_run_has_the_schedule_id_and_tick,
            schedules::a_stale_fire_changes_nothing_and_creates_no_run,
            schedules::concurrent_fires_of_one_tick_make_one_run,
            schedules::a_paused_schedule_cannot_fire,
            schedules::due_schedules_are_the_longest_due_first,
        );
    };
    (@contracts $factory:expr; $($area:ident :: $contract:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $contract() {
                let factory = $factory;
                if $crate::StoreFactory::available(&factory).await {
                    $crate::$area::$contract(&factory).await;
                }
            }
        )*
    };
}
