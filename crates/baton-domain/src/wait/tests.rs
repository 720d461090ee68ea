use chrono::{Duration, TimeZone};
use serde_json::json;

use super::*;
use crate::TaskStatus;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn task(task_type: TaskType, input: Value) -> Task {
    Task {
        status: TaskStatus::Running,
        attempt: 1,
        available_at: Some(at(0)),
        ..Task::sample(task_type, input)
    }
}

/// The task as the store leaves it parked at `now` until `until`, then claimed at `claimed`.
fn parked(
    mut task: Task,
    now: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    claimed: DateTime<Utc>,
) -> Task {
    task.waiting_since = Some(now);
    task.wake_at = until;
    task.available_at = Some(claimed);
    task
}

#[test]
fn a_sleep_parks_until_its_time_then_is_done() {
    let t = task(TaskType::Sleep, json!({"for_ms": 5000}));
    let decided = Waiting::sleep(&t, Sleep::For(5000), at(0));
    assert_eq!(
        decided,
        Waiting::Park {
            until: Some(at(5)),
            signal: None,
            first: true
        }
    );
    let woken = parked(t, at(0), Some(at(5)), at(5));
    assert_eq!(
        Waiting::sleep(&woken, Sleep::For(5000), at(5)),
        Waiting::Done {
            output: json!({"until": at(5)}),
            signal: None
        }
    );
}

#[test]
fn a_sleep_woken_early_keeps_its_time_and_one_in_the_past_is_done_at_once() {
    let t = task(TaskType::Sleep, json!({}));
    // Claimed before its wake time (another instance's clock ran ahead): it parks again,
    // until the same time, without a second `task.waiting`.
    let early = parked(t.clone(), at(0), Some(at(10)), at(3));
    assert_eq!(
        Waiting::sleep(&early, Sleep::For(10_000), at(3)),
        Waiting::Park {
            until: Some(at(10)),
            signal: None,
            first: false
        }
    );
    assert!(matches!(
        Waiting::sleep(&t, Sleep::Until(at(-1)), at(0)),
        Waiting::Done { .. }
    ));
    assert!(matches!(
        Waiting::sleep(&t, Sleep::For(0), at(0)),
        Waiting::Done { .. }
    ));
}

fn wait(timeout_ms: Option<u64>, on_timeout: OnTimeout) -> Wait {
    Wait {
        signal: SignalName::new("approval").unwrap(),
        timeout_ms,
        on_timeout,
    }
}

fn signal(payload: Value) -> ReceivedSignal {
    ReceivedSignal {
        id: SignalId::generate(),
        workflow_id: WorkflowId::generate(),
        name: "approval".into(),
        payload,
        created_at: at(0),
        consumed_by: None,
        consumed_at: None,
    }
}

#[test]
fn a_wait_takes_a_kept_signal_or_parks_for_it() {
    let t = task(TaskType::Wait, json!({"signal": "approval"}));
    let w = wait(None, OnTimeout::Fail);
    let s = signal(json!({"ok": true}));
    assert_eq!(
        Waiting::wait(&t, &w, Some(&s), at(0)),
        Waiting::Done {
            output: json!({"ok": true}),
            signal: Some(s.id)
        }
    );
    assert_eq!(
        Waiting::wait(&t, &w, None, at(0)),
        Waiting::Park {
            until: None,
            signal: Some(w.signal.clone()),
            first: true
        }
    );
    // Woken (by a signal another wait took first): waits again, forever.
    let woken = parked(t, at(0), None, at(4));
    assert!(matches!(
        Waiting::wait(&woken, &w, None, at(4)),
        Waiting::Park {
            until: None,
            first: false,
            ..
        }
    ));
}

#[test]
fn a_wait_times_out_as_configured_only_at_its_time() {
    let t = task(TaskType::Wait, json!({}));
    let fail = wait(Some(2000), OnTimeout::Fail);
    assert!(matches!(
        Waiting::wait(&t, &fail, None, at(0)),
        Waiting::Park { until: Some(u), first: true, .. } if u == at(0) + Duration::seconds(2)
    ));
    // Woken by a signal before the time-out, the signal gone: parks again until the time-out.
    let early = parked(t.clone(), at(0), Some(at(2)), at(1));
    assert!(matches!(
        Waiting::wait(&early, &fail, None, at(1)),
        Waiting::Park { until: Some(u), first: false, .. } if u == at(2)
    ));
    let due = parked(t.clone(), at(0), Some(at(2)), at(2));
    assert!(matches!(
        Waiting::wait(&due, &fail, None, at(2)),
        Waiting::TimedOut { .. }
    ));
    let go_on = wait(Some(2000), OnTimeout::Continue(json!("default")));
    assert_eq!(
        Waiting::wait(&due, &go_on, None, at(2)),
        Waiting::Done {
            output: json!("default"),
            signal: None
        }
    );
    // A signal that came with the time-out still wins.
    let s = signal(json!(1));
    assert!(matches!(
        Waiting::wait(&due, &fail, Some(&s), at(2)),
        Waiting::Done {
            signal: Some(_),
            ..
        }
    ));
}

#[test]
fn inputs_are_checked_as_written_and_as_rendered() {
    assert!(check_input(TaskType::Sleep, &json!({"for_ms": 10})).is_ok());
    assert!(check_input(TaskType::Sleep, &json!({"for_ms": "{{ input.ms }}"})).is_ok());
    assert!(
        check_input(
            TaskType::Sleep,
            &json!({"until": "2026-12-24T18:00:00+01:00"})
        )
        .is_ok()
    );
    assert!(check_input(TaskType::Sleep, &json!({"until": "{{ input.at }}"})).is_ok());
    for bad in [
        json!({}),
        json!({"for_ms": -1}),
        json!({"for_ms": 1, "until": "2026-12-24T18:00:00Z"}),
        json!({"until": "tomorrow"}),
        json!({"for_ms": MAX_WAIT_MS + 1}),
    ] {
        assert!(check_input(TaskType::Sleep, &bad).is_err(), "{bad}");
    }
    assert!(check_input(TaskType::Wait, &json!({"signal": "approval"})).is_ok());
    assert!(
        check_input(
            TaskType::Wait,
            &json!({"signal": "a.b:c-d_1", "timeout_ms": 5, "on_timeout": "continue", "default": 1})
        )
        .is_ok()
    );
    for bad in [
        json!({}),
        json!({"signal": "with space"}),
        json!({"signal": "{{ input.name }}"}),
        json!({"signal": "a", "on_timeout": "continue"}),
        json!({"signal": "a", "timeout_ms": 5, "on_timeout": "later"}),
    ] {
        assert!(check_input(TaskType::Wait, &bad).is_err(), "{bad}");
    }
    assert_eq!(
        sleep_of(&json!({"for_ms": "250"})).unwrap(),
        Sleep::For(250)
    );
}

#[test]
fn signal_names() {
    assert!(SignalName::new("approval").is_ok());
    assert!(SignalName::new("x".repeat(100)).is_ok());
    for bad in ["", "a/b", "a b", "é", "%2F"] {
        assert!(SignalName::new(bad).is_err(), "{bad}");
    }
    assert!(SignalName::new("x".repeat(101)).is_err());
}
