//! Workflow definitions (the `DefinitionStore` port): versions of a name per owner, each kept,
//! a version saved once, others' definitions invisible, deletes refused while scheduled.

use baton_domain::ports::{DefinitionStore, PageRequest, ScheduleStore, Scope, StoreError};
use baton_domain::{
    Definition, DefinitionDraft, DefinitionName, NewDefinition, NewSchedule, ScheduleDraft,
    TaskDraft, UserId,
};
use chrono::Utc;
use serde_json::json;

use crate::StoreFactory;
use crate::support::{assert_not_found, assert_stale, page, transform};

pub fn name(raw: &str) -> DefinitionName {
    DefinitionName::new(raw).unwrap()
}

/// A definition of `owner` named `raw` whose one task's jq program is `jq`.
pub fn draft(raw: &str, jq: &str) -> DefinitionDraft {
    DefinitionDraft {
        name: raw.into(),
        description: Some(format!("{raw}: {jq}")),
        input_schema: Some(json!({"type": "object"})),
        defaults: None,
        tasks: vec![TaskDraft {
            input: Some(json!({ "jq": jq })),
            ..transform(Some("only"))
        }],
    }
}

/// Version `version` (after `version - 1`) of `owner`'s `raw`.
pub fn version(owner: UserId, raw: &str, jq: &str, version: i32) -> NewDefinition {
    let latest = (version > 1).then_some(version - 1);
    NewDefinition::new(owner, draft(raw, jq))
        .unwrap()
        .version(latest, None)
        .unwrap()
}

/// Saves version `n` of `owner`'s `raw`.
pub async fn save<S: DefinitionStore>(store: &S, owner: UserId, raw: &str, n: i32) -> Definition {
    store
        .save_definition(&version(owner, raw, &format!("{{v: {n}}}"), n))
        .await
        .unwrap_or_else(|err| panic!("save version {n} of {raw}: {err}"))
}

fn jq_of(definition: &Definition) -> String {
    definition.tasks[0].input.as_ref().unwrap()["jq"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Each save is the next version; every version stays readable as it was saved, the latest by
/// default; a version is saved once (`Stale`), and lists show each name's latest.
pub async fn versions_increase_by_one_and_old_versions_stay_readable<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let v1 = save(&*store, owner, "digest", 1).await;
    assert_eq!(
        (v1.version, v1.owner_id, v1.name.as_str()),
        (1, owner, "digest")
    );
    assert_eq!(v1.input_schema, Some(json!({"type": "object"})));
    assert_eq!(v1.description.as_deref(), Some("digest: {v: 1}"));
    let v2 = save(&*store, owner, "digest", 2).await;
    assert_eq!(v2.version, 2);

    let latest = store
        .get_definition(owner, &name("digest"), None)
        .await
        .unwrap();
    assert_eq!(latest, v2);
    let first = store
        .get_definition(owner, &name("digest"), Some(1))
        .await
        .unwrap();
    assert_eq!(first, v1, "version 1 is kept as it was saved");
    assert_eq!(jq_of(&first), "{v: 1}");
    assert_not_found(
        store.get_definition(owner, &name("digest"), Some(3)).await,
        "a version never saved",
    );

    let again = version(owner, "digest", "{v: 'again'}", 2);
    assert_stale(store.save_definition(&again).await, "a second version 2");
    assert_eq!(
        store
            .get_definition(owner, &name("digest"), None)
            .await
            .unwrap(),
        v2,
        "the refused save changed nothing"
    );

    let versions = store
        .definition_versions(owner, &name("digest"), PageRequest::default())
        .await
        .unwrap();
    let numbers: Vec<i32> = versions.items.iter().map(|d| d.version).collect();
    assert_eq!(numbers, [2, 1], "newest first");
    let one = store
        .definition_versions(owner, &name("digest"), page(1, None))
        .await
        .unwrap();
    assert_eq!(one.items[0].version, 2);
    let rest = store
        .definition_versions(owner, &name("digest"), page(1, one.next))
        .await
        .unwrap();
    assert_eq!(rest.items[0].version, 1);

    save(&*store, owner, "other", 1).await;
    let listed = store
        .list_definitions(Scope::Owner(owner), PageRequest::default())
        .await
        .unwrap();
    let latest: Vec<(&str, i32)> = listed
        .items
        .iter()
        .map(|d| (d.name.as_str(), d.version))
        .collect();
    assert_eq!(
        latest,
        [("other", 1), ("digest", 2)],
        "each name's latest, newest first"
    );
}

/// Names are per owner: two owners may use one; another owner's behaves as if absent (get,
/// versions, delete), and lists show only the scope's.
pub async fn names_are_per_owner_and_scope_hides_others<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let (a, b, stranger) = (UserId::generate(), UserId::generate(), UserId::generate());
    let mine = save(&*store, a, "digest", 1).await;
    let theirs = save(&*store, b, "digest", 1).await;
    assert_ne!(
        mine.id, theirs.id,
        "the same name and version for another owner"
    );
    assert_eq!(
        store
            .get_definition(b, &name("digest"), None)
            .await
            .unwrap(),
        theirs
    );

    assert_not_found(
        store.get_definition(stranger, &name("digest"), None).await,
        "another owner's definition",
    );
    assert_not_found(
        store
            .definition_versions(stranger, &name("digest"), PageRequest::default())
            .await,
        "another owner's versions",
    );
    assert_not_found(
        store.delete_definition(stranger, &name("digest")).await,
        "deleting another owner's definition",
    );
    let only_a = store
        .list_definitions(Scope::Owner(a), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(only_a.items, vec![mine.clone()]);
    let none = store
        .list_definitions(Scope::Owner(stranger), PageRequest::default())
        .await
        .unwrap();
    assert!(none.items.is_empty());
    let all = store
        .list_definitions(Scope::All, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2, "an administrator's scope sees both");
    assert_eq!(
        store
            .get_definition(a, &name("digest"), None)
            .await
            .unwrap(),
        mine,
        "nothing of A's changed"
    );
}

/// Deleting removes every version, unless a schedule of the owner runs the name (`Conflict`,
/// deleting nothing).
pub async fn deleting_removes_every_version_unless_a_schedule_runs_it<F: StoreFactory>(
    factory: &F,
) {
    let store = factory.store().await;
    let owner = UserId::generate();
    save(&*store, owner, "digest", 1).await;
    save(&*store, owner, "digest", 2).await;
    let schedule = NewSchedule::new(
        owner,
        ScheduleDraft {
            definition: "digest".into(),
            cron: "0 9 * * *".into(),
            ..ScheduleDraft::default()
        },
        Utc::now(),
    )
    .unwrap();
    store.create_schedule(&schedule).await.unwrap();
    match store.delete_definition(owner, &name("digest")).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("schedule"), "says why: {message}")
        }
        other => panic!("deleting a scheduled definition: expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store
            .definition_versions(owner, &name("digest"), PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        2,
        "nothing was deleted"
    );

    store
        .delete_schedule(Scope::Owner(owner), schedule.id)
        .await
        .unwrap();
    store
        .delete_definition(owner, &name("digest"))
        .await
        .unwrap();
    for version in [None, Some(1), Some(2)] {
        assert_not_found(
            store.get_definition(owner, &name("digest"), version).await,
            "a deleted definition",
        );
    }
    assert_not_found(
        store.delete_definition(owner, &name("digest")).await,
        "deleting it again",
    );
}
