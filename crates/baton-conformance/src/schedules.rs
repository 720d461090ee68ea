//! Schedules (the `ScheduleStore` port): owned, tied to their owner's definition, and fired
//! exactly once per tick: a firing applies only while the schedule is unpaused and still due
//! at the time it was decided from, and creates and starts its run in the same transaction.

use baton_domain::ports::{PageRequest, ScheduleStore, Scope, StoreError, WorkflowFilter};
use baton_domain::{
    DefinitionRef, Firing, NewSchedule, Schedule, ScheduleDraft, ScheduleFire, ScheduleRef, UserId,
    WorkflowStatus,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::definitions::{name, save};
use crate::support::{assert_not_found, page};
use crate::{ConformantStore, StoreFactory};

/// When the test schedules were created: their first tick is the minute after.
fn created() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:30Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn minute(m: i64) -> DateTime<Utc> {
    created() - Duration::seconds(30) + Duration::minutes(m)
}

fn new_schedule(owner: UserId, definition: &str, version: Option<i32>) -> NewSchedule {
    NewSchedule::new(
        owner,
        ScheduleDraft {
            definition: definition.into(),
            input: Some(json!({"city": "Lyon"})),
            cron: "* * * * *".into(),
            version,
            ..ScheduleDraft::default()
        },
        created(),
    )
    .unwrap()
}

/// A schedule of a new owner's definition `digest` (two versions), due at minute 1.
async fn scheduled<S: ConformantStore>(store: &S) -> Schedule {
    let owner = UserId::generate();
    save(store, owner, "digest", 1).await;
    save(store, owner, "digest", 2).await;
    store
        .create_schedule(&new_schedule(owner, "digest", None))
        .await
        .unwrap()
}

/// The firing of the tick the schedule is due at, with its run built as the scheduler builds
/// it (from the latest version).
async fn run_of<S: ConformantStore>(store: &S, schedule: &Schedule) -> ScheduleFire {
    let due = schedule.next_fire_at.unwrap();
    let firing = Firing {
        expected: due,
        tick: Some(due),
        next: Some(due + Duration::minutes(1)),
    };
    let definition = store
        .get_definition(
            schedule.owner_id,
            &name(&schedule.definition),
            schedule.version,
        )
        .await
        .unwrap();
    let workflow = schedule.run(&definition, due).unwrap();
    ScheduleFire::run(&firing, schedule.id, workflow, due).unwrap()
}

async fn runs<S: ConformantStore>(store: &S) -> Vec<baton_domain::Workflow> {
    store
        .list_workflows(
            Scope::All,
            WorkflowFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap()
        .items
}

/// A schedule needs its owner's definition (at its pinned version, when pinned); it reads back
/// as stored, and another owner's scope does not see, delete or pause it.
pub async fn a_schedule_needs_its_owner_s_definition<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let stranger = UserId::generate();
    save(&*store, stranger, "theirs", 1).await;
    for (definition, version, why) in [
        ("missing", None, "no definition of that name"),
        ("theirs", None, "another owner's definition"),
    ] {
        match store
            .create_schedule(&new_schedule(owner, definition, version))
            .await
        {
            Err(StoreError::NotFound("definition")) => {}
            other => panic!("{why}: expected NotFound(\"definition\"), got {other:?}"),
        }
    }
    save(&*store, owner, "digest", 1).await;
    match store
        .create_schedule(&new_schedule(owner, "digest", Some(2)))
        .await
    {
        Err(StoreError::NotFound("definition")) => {}
        other => panic!("a version never saved: expected NotFound, got {other:?}"),
    }
    let listed = store
        .list_schedules(Scope::All, PageRequest::default())
        .await
        .unwrap();
    assert!(
        listed.items.is_empty(),
        "the refused schedules were not stored"
    );

    let new = new_schedule(owner, "digest", Some(1));
    let stored = store.create_schedule(&new).await.unwrap();
    assert_eq!(stored.id, new.id);
    assert_eq!(
        (stored.owner_id, stored.definition.as_str(), stored.version),
        (owner, "digest", Some(1))
    );
    assert_eq!(stored.input, json!({"city": "Lyon"}));
    assert_eq!(
        (stored.cron.as_str(), stored.timezone.as_str()),
        ("* * * * *", "UTC")
    );
    assert!(!stored.paused);
    assert_eq!(stored.next_fire_at, Some(minute(1)));
    assert_eq!(
        (stored.last_fired_at, stored.last_error.as_deref()),
        (None, None)
    );
    assert_eq!(
        store
            .get_schedule(Scope::Owner(owner), new.id)
            .await
            .unwrap(),
        stored
    );

    assert_not_found(
        store.get_schedule(Scope::Owner(stranger), new.id).await,
        "another owner's schedule",
    );
    assert_not_found(
        store.pause_schedule(Scope::Owner(stranger), new.id).await,
        "pausing another owner's schedule",
    );
    assert_not_found(
        store.delete_schedule(Scope::Owner(stranger), new.id).await,
        "deleting another owner's schedule",
    );
    let theirs = store
        .list_schedules(Scope::Owner(stranger), page(10, None))
        .await
        .unwrap();
    assert!(theirs.items.is_empty());
    assert_eq!(
        store.get_schedule(Scope::All, new.id).await.unwrap(),
        stored,
        "nothing changed"
    );
    store
        .delete_schedule(Scope::Owner(owner), new.id)
        .await
        .unwrap();
    assert_not_found(store.get_schedule(Scope::All, new.id).await, "deleted");
}

/// A fired tick creates and starts its run, owned by the schedule's owner and tagged with the
/// schedule, the tick and the definition's version; the schedule moves on.
pub async fn a_fired_run_has_the_schedule_id_and_tick<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let schedule = scheduled(&*store).await;
    let due = store.due_schedules(Utc::now(), 10).await.unwrap();
    assert_eq!(due, vec![schedule.clone()], "due since minute 1");
    assert!(
        store.due_schedules(minute(0), 10).await.unwrap().is_empty(),
        "not due before its tick"
    );

    let fire = run_of(&*store, &schedule).await;
    assert!(store.fire_schedule(&fire).await.unwrap());
    let runs = runs(&*store).await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.owner_id, schedule.owner_id);
    assert_eq!(
        run.status,
        WorkflowStatus::Running,
        "started in the same transaction"
    );
    assert_eq!(
        run.schedule,
        Some(ScheduleRef {
            id: schedule.id,
            at: minute(1)
        })
    );
    assert_eq!(
        run.definition,
        Some(DefinitionRef {
            name: "digest".into(),
            version: 2
        }),
        "the latest version"
    );
    assert_eq!(run.input, json!({"city": "Lyon"}));

    let after = store.get_schedule(Scope::All, schedule.id).await.unwrap();
    assert_eq!(after.next_fire_at, Some(minute(2)));
    assert!(after.last_fired_at.is_some());
}

/// A firing decided from a `next_fire_at` that is no longer the schedule's changes nothing and
/// creates no run.
pub async fn a_stale_fire_changes_nothing_and_creates_no_run<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let schedule = scheduled(&*store).await;
    let mut stale = run_of(&*store, &schedule).await;
    stale.expected = minute(0);
    assert!(!store.fire_schedule(&stale).await.unwrap());
    assert!(runs(&*store).await.is_empty(), "no run");
    assert_eq!(
        store.get_schedule(Scope::All, schedule.id).await.unwrap(),
        schedule,
        "the schedule is unchanged"
    );

    let fire = run_of(&*store, &schedule).await;
    assert!(store.fire_schedule(&fire).await.unwrap());
    // The same decision again (another instance read the schedule before the first fired).
    let late = run_of(&*store, &schedule).await;
    assert!(
        !store.fire_schedule(&late).await.unwrap(),
        "its tick fired already"
    );
    assert_eq!(runs(&*store).await.len(), 1);
}

/// Two instances firing one tick at once: exactly one run.
pub async fn concurrent_fires_of_one_tick_make_one_run<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let schedule = scheduled(&*store).await;
    let mut fires = Vec::new();
    for _ in 0..4 {
        fires.push(run_of(&*store, &schedule).await);
    }
    let results = futures_util::future::join_all(fires.into_iter().map(|fire| {
        let store = store.store().clone();
        tokio::spawn(async move { store.fire_schedule(&fire).await.unwrap() })
    }))
    .await;
    let applied = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(applied, 1, "one firing applied");
    let runs = runs(&*store).await;
    assert_eq!(runs.len(), 1, "one run for the tick");
    assert_eq!(runs[0].schedule.as_ref().map(|s| s.at), Some(minute(1)));
}

/// A paused schedule is not due and cannot fire; pausing again and resuming a running one
/// change nothing; a resume sets when it is next due and forgets why it was paused.
pub async fn a_paused_schedule_cannot_fire<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let schedule = scheduled(&*store).await;
    let fire = run_of(&*store, &schedule).await;
    let paused = store
        .pause_schedule(Scope::Owner(schedule.owner_id), schedule.id)
        .await
        .unwrap();
    assert!(paused.paused);
    assert_eq!(
        store.pause_schedule(Scope::All, schedule.id).await.unwrap(),
        paused,
        "pausing again changes nothing"
    );
    assert!(
        store
            .due_schedules(Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store.fire_schedule(&fire).await.unwrap(),
        "paused: no fire"
    );
    assert!(runs(&*store).await.is_empty());

    let resumed = store
        .resume_schedule(Scope::All, schedule.id, Some(minute(5)))
        .await
        .unwrap();
    assert!(!resumed.paused);
    assert_eq!(resumed.next_fire_at, Some(minute(5)));
    assert_eq!(
        store
            .resume_schedule(Scope::All, schedule.id, Some(minute(9)))
            .await
            .unwrap(),
        resumed,
        "resuming a running schedule changes nothing"
    );
    assert!(
        !store.fire_schedule(&fire).await.unwrap(),
        "the tick decided before the pause is gone"
    );

    // Paused by a firing (its definition gone): the tick is consumed and the reason kept.
    let firing = Firing {
        expected: minute(5),
        tick: Some(minute(5)),
        next: Some(minute(6)),
    };
    let pause = ScheduleFire::pause(&firing, schedule.id, "the definition is gone".into());
    assert!(store.fire_schedule(&pause).await.unwrap());
    let stopped = store.get_schedule(Scope::All, schedule.id).await.unwrap();
    assert!(stopped.paused);
    assert_eq!(stopped.next_fire_at, Some(minute(6)));
    assert_eq!(
        stopped.last_error.as_deref(),
        Some("the definition is gone")
    );
    assert!(runs(&*store).await.is_empty());
    let again = store
        .resume_schedule(Scope::All, schedule.id, Some(minute(7)))
        .await
        .unwrap();
    assert_eq!((again.paused, again.last_error), (false, None));
}

/// Due schedules: unpaused, due at or before the time asked, the longest due first, bounded;
/// skipping missed ticks moves a schedule on without a run.
pub async fn due_schedules_are_the_longest_due_first<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let first = scheduled(&*store).await;
    let second = scheduled(&*store).await;
    // The first moves on to minute 3 without a run; the second stays due at minute 1.
    let firing = Firing {
        expected: minute(1),
        tick: None,
        next: Some(minute(3)),
    };
    assert!(
        store
            .fire_schedule(&ScheduleFire::skip(&firing, first.id))
            .await
            .unwrap()
    );
    assert!(runs(&*store).await.is_empty(), "a skip starts no run");
    let due: Vec<_> = store
        .due_schedules(minute(5), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(due, [second.id, first.id]);
    let one = store.due_schedules(minute(5), 1).await.unwrap();
    assert_eq!(one.len(), 1);
    let at_two = store.due_schedules(minute(2), 10).await.unwrap();
    assert_eq!(at_two.iter().map(|s| s.id).collect::<Vec<_>>(), [second.id]);
}
