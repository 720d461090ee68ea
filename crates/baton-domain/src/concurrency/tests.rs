use chrono::Utc;
use serde_json::json;

use super::*;
use crate::{Effect, EventKind, Task, TaskStatus, TaskType};

fn queued(limits: &[u32]) -> Vec<Queued> {
    limits
        .iter()
        .map(|&limit| Queued {
            id: WorkflowId::generate(),
            limit,
        })
        .collect()
}

#[test]
fn admission_fills_the_free_slots_oldest_first() {
    assert_eq!(admit(0, &queued(&[1, 1, 1])), 1);
    assert_eq!(admit(1, &queued(&[1, 1])), 0, "the slot is taken");
    assert_eq!(admit(0, &queued(&[3, 3, 3, 3])), 3);
    assert_eq!(admit(2, &queued(&[3, 3, 3])), 1);
    assert_eq!(admit(5, &queued(&[3])), 0, "more run than the limit");
    assert_eq!(admit(0, &[]), 0);
}

#[test]
fn admission_never_lets_a_younger_run_overtake() {
    // The oldest allows 1 at a time and one runs: it waits, so the ones behind it wait too,
    // even though their own limit would let them run.
    assert_eq!(admit(1, &queued(&[1, 10, 10])), 0);
    // Each counts those admitted before it.
    assert_eq!(admit(1, &queued(&[3, 2, 10])), 1);
}

fn task(workflow_id: WorkflowId, status: TaskStatus) -> Task {
    Task {
        workflow_id,
        status,
        ..Task::sample(TaskType::Transform, json!({"jq": "."}))
    }
}

fn workflow(status: WorkflowStatus, task_status: TaskStatus, limit: u32) -> Workflow {
    let now = Utc::now();
    let id = WorkflowId::generate();
    Workflow {
        id,
        owner_id: UserId::LOCAL_ADMIN,
        name: "keyed".into(),
        status,
        input: json!({"tenant": "acme"}),
        output: None,
        error: None,
        current_position: 0,
        version: 1,
        created_at: now,
        updated_at: now,
        started_at: (status != WorkflowStatus::Pending).then_some(now),
        finished_at: None,
        tasks: vec![task(id, task_status)],
        elements_to_retry: Vec::new(),
        parent_id: None,
        parent_task_id: None,
        concurrency: Some(Concurrency {
            key: "{{ input.tenant }}".into(),
            limit,
        }),
        definition: None,
        schedule: None,
        budget: None,
        paused: None,
    }
}

fn key() -> ConcurrencyKey {
    ConcurrencyKey::new("acme".into()).unwrap()
}

#[test]
fn a_start_with_a_free_slot_runs_and_beyond_the_limit_queues() {
    let wf = workflow(WorkflowStatus::Pending, TaskStatus::Pending, 2);
    let free = KeyState {
        running: 1,
        queued: Vec::new(),
    };
    let KeyedStart::Run(admission) = wf
        .admit_or_queue(wf.start().unwrap(), key(), &free)
        .unwrap()
    else {
        panic!("a slot is free")
    };
    assert_eq!(admission.running, 1);
    assert!(
        admission.none_queued,
        "it must not overtake one queued meanwhile"
    );
    assert_eq!(admission.workflows(), [wf.id]);
    assert!(matches!(admission.starts[0].effect, Effect::Start { .. }));

    let full = KeyState {
        running: 2,
        queued: Vec::new(),
    };
    let KeyedStart::Queue(parked) = wf
        .admit_or_queue(wf.start().unwrap(), key(), &full)
        .unwrap()
    else {
        panic!("no slot is free")
    };
    assert_eq!(
        (parked.from, parked.to),
        (WorkflowStatus::Pending, WorkflowStatus::Queued)
    );
    assert_eq!(
        parked.effect,
        Effect::Queue {
            key: "acme".into(),
            limit: 2
        }
    );
    assert_eq!(
        parked.events[0].kind,
        EventKind::WorkflowQueued {
            key: "acme".into(),
            limit: 2
        }
    );
}

#[test]
fn a_start_queues_behind_those_already_waiting() {
    let wf = workflow(WorkflowStatus::Pending, TaskStatus::Pending, 5);
    let state = KeyState {
        running: 0,
        queued: queued(&[5]),
    };
    let decided = wf
        .admit_or_queue(wf.start().unwrap(), key(), &state)
        .unwrap();
    assert!(matches!(decided, KeyedStart::Queue(_)), "{decided:?}");
}

#[test]
fn a_retry_beyond_the_limit_queues_from_failed() {
    let wf = workflow(WorkflowStatus::Failed, TaskStatus::Failed, 1);
    let state = KeyState {
        running: 1,
        queued: Vec::new(),
    };
    let KeyedStart::Queue(parked) = wf
        .admit_or_queue(wf.retry().unwrap(), key(), &state)
        .unwrap()
    else {
        panic!("no slot is free")
    };
    assert_eq!(
        (parked.from, parked.to),
        (WorkflowStatus::Failed, WorkflowStatus::Queued)
    );
}

#[test]
fn an_admitted_workflow_is_started_or_resumed_as_decided_again() {
    let never_ran = workflow(WorkflowStatus::Queued, TaskStatus::Pending, 1);
    let mut never_ran = never_ran;
    never_ran.started_at = None;
    let start = never_ran.admitted().unwrap();
    assert_eq!(
        (start.from, start.to),
        (WorkflowStatus::Queued, WorkflowStatus::Running)
    );
    let Effect::Start { queue, .. } = &start.effect else {
        panic!("a start: {start:?}")
    };
    assert_eq!(queue, &[never_ran.tasks[0].id], "its root is queued now");
    assert_eq!(
        start.events[0].kind,
        EventKind::WorkflowStarted { retry: false }
    );

    let retried = workflow(WorkflowStatus::Queued, TaskStatus::Failed, 1);
    let resume = retried.admitted().unwrap();
    assert_eq!(
        resume.effect,
        Effect::Retry {
            requeue: vec![retried.tasks[0].id]
        }
    );
    assert_eq!(
        resume.events[0].kind,
        EventKind::WorkflowStarted { retry: true }
    );

    let running = workflow(WorkflowStatus::Running, TaskStatus::Queued, 1);
    assert!(matches!(running.admitted(), Err(DomainError::Conflict(_))));
    let admission = Admission::of_queued(UserId::LOCAL_ADMIN, key(), 0, &[running]);
    assert!(admission.is_err(), "only queued workflows are admitted");
}

#[test]
fn a_queued_workflow_is_started_only_by_admission_and_can_be_cancelled() {
    let wf = workflow(WorkflowStatus::Queued, TaskStatus::Pending, 1);
    let err = wf.start().unwrap_err().to_string();
    assert!(err.contains("queued"), "{err}");
    let cancel = wf.cancel().unwrap();
    assert_eq!(
        (cancel.from, cancel.to),
        (WorkflowStatus::Queued, WorkflowStatus::Cancelled)
    );
}

#[test]
fn limits_and_keys_are_checked() {
    assert!(Concurrency::new("{{ input.tenant }}".into(), 1).is_ok());
    assert!(Concurrency::new("a".into(), 1_000).is_ok());
    for limit in [0, -1, 1_001] {
        let DomainError::Invalid(errors) = Concurrency::new("a".into(), limit).unwrap_err() else {
            panic!("invalid")
        };
        assert_eq!(errors[0].field, "concurrency.limit");
    }
    let DomainError::Invalid(errors) = Concurrency::new(" ".into(), 0).unwrap_err() else {
        panic!("invalid")
    };
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["concurrency.key", "concurrency.limit"]);
    assert!(ConcurrencyKey::new("x".repeat(200)).is_ok());
    assert!(ConcurrencyKey::new("x".repeat(201)).is_err());
    assert!(ConcurrencyKey::new(String::new()).is_err());
}
