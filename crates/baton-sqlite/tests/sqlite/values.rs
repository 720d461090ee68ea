//! Hostile values round-trip exactly; the store's own constraint on task keys answers like
//! Postgres'.

use baton_conformance::support::{
    apply, claim_exactly, claim_one, create, create_started, events_of, get_task, get_workflow,
    store_task, transform,
};
use baton_domain::ports::{DocumentStore, Scope, StoreError, TaskQueue, UserStore, WorkflowStore};
use baton_domain::{
    Change, DomainError, Edit, Email, EventKind, NewDocument, NewEvent, NewTask, NewUser,
    NewWorkflow, Role, StepCommit, TaskDraft, TaskId, TaskOutcome, UserId,
};
use serde_json::{Value, json};

use crate::fresh;

const NASTY: &str = "it's \"quoted\" \\ back'slashed'; DROP TABLE tasks; -- 🎉 ñ \u{202e} \t\n\r";

fn nasty_json() -> Value {
    json!({
        NASTY: [NASTY, "'); DELETE FROM workflows; --", {"\"k\"": "🦀"}],
        "numbers": [0, -1, i64::MIN, i64::MAX, u64::MAX, 0.1, -2.5e-300, 1.7976931348623157e308,
                    123456789.12345679, 5e-324],
        "empty": {"": ""},
        "null": null,
        "deep": [[[[{"a": [true, false]}]]]],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_values_round_trip_exactly() {
    let (store, _dir) = fresh().await;
    let owner = UserId::generate();
    let mut hostile = transform(Some("k_1"));
    hostile.title = Some(NASTY.into());
    hostile.input = Some(json!({"jq": NASTY, "extra": nasty_json()}));
    let when = format!("{{{{ true }}}}{NASTY}");
    hostile.when = Some(when.clone());
    let saving = TaskDraft {
        depends_on: Some(vec!["k_1".into()]),
        ..store_task("c'ollection 🎉")
    };
    let new = NewWorkflow::new(
        owner,
        NASTY.into(),
        Some(nasty_json()),
        vec![hostile, saving],
    )
    .unwrap();
    create_started(&store, &new).await;
    let read = get_workflow(&store, new.id()).await;
    assert_eq!(read.name, NASTY);
    assert_eq!(read.input, nasty_json());
    assert_eq!(read.tasks[0].title, NASTY);
    assert_eq!(read.tasks[0].input["extra"], nasty_json());
    assert_eq!(read.tasks[0].when, Some(when));
    assert_eq!(read.tasks[0].depends_on, None);
    assert_eq!(read.tasks[1].depends_on, Some(vec!["k_1".to_owned()]));

    let first = claim_one(&store, "w'orker 🎉").await;
    let delta = NewEvent::new(
        new.id(),
        EventKind::TaskDelta {
            task_id: first.task.id,
            attempt: 1,
            text: NASTY.into(),
        },
    );
    assert!(store.append_held(&first, &delta).await.unwrap());
    let step = StepCommit::completed(&first, nasty_json(), nasty_json(), None, None);
    apply(&store, &step).await;
    let second = claim_one(&store, "w").await;
    let document = NewDocument {
        id: uuid::Uuid::now_v7(),
        collection: "c'ollection 🎉".into(),
        data: nasty_json(),
    };
    let step = StepCommit::completed(
        &second,
        json!({}),
        nasty_json(),
        Some(document.clone()),
        None,
    );
    apply(&store, &step).await;

    let done = get_workflow(&store, new.id()).await;
    assert_eq!(done.tasks[0].output, Some(nasty_json()));
    assert_eq!(done.tasks[0].resolved_input, Some(nasty_json()));
    assert_eq!(done.output, Some(nasty_json()));
    let events = events_of(&store, new.id()).await;
    assert!(events.iter().any(|e| e.data["text"] == json!(NASTY)));
    assert!(
        events
            .iter()
            .any(|e| e.data["worker"] == json!("w'orker 🎉"))
    );
    let stored = store.get_document(Scope::All, document.id).await.unwrap();
    assert_eq!(stored.data, nasty_json());
    assert_eq!(stored.collection, "c'ollection 🎉");
    let listed = store
        .list_documents(
            Scope::Owner(owner),
            baton_domain::ports::DocumentFilter {
                collection: Some("c'ollection 🎉".into()),
                workflow_id: None,
            },
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(listed.items, vec![stored]);

    let user = NewUser {
        id: UserId::generate(),
        email: Email::new("o'brien+🎉@example.com").unwrap(),
        role: Role::Member,
        password_hash: NASTY.into(),
    };
    store.create_user(user.clone()).await.unwrap();
    let credentials = store.credentials(&user.email).await.unwrap().unwrap();
    assert_eq!(credentials.password_hash, NASTY);
    assert_eq!(credentials.user.email, user.email);
}

/// A fan-out over hostile items: each element's item (the elements bound as one JSON value,
/// each item taken out of it by SQLite) and the parent's `for_each` read back exactly.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_items_round_trip_exactly() {
    let (store, _dir) = fresh().await;
    let for_each = format!("{{{{ input.items }}}}{NASTY}");
    let new = NewWorkflow::new(
        UserId::generate(),
        "items".into(),
        None,
        vec![TaskDraft {
            for_each: Some(for_each.clone()),
            ..transform(Some("p"))
        }],
    )
    .unwrap();
    create_started(&store, &new).await;
    let p = new.tasks()[0].id();
    let parent = claim_exactly(&store, "w", &[p]).await.remove(0);
    assert_eq!(parent.task.for_each, Some(for_each));
    let mut items = vec![
        nasty_json(),
        json!(NASTY),
        Value::Null,
        json!([]),
        json!({}),
        json!(""),
        json!("null"),
        json!("[1]"),
        json!(true),
    ];
    if let Value::Object(map) = nasty_json() {
        items.extend(map.into_values());
    }
    if let Value::Array(numbers) = nasty_json()["numbers"].clone() {
        items.extend(numbers);
    }
    let step = StepCommit::expanded(&parent, items.clone(), None, None);
    let TaskOutcome::Expand { elements } = &step.outcome else {
        panic!("an expansion: {:?}", step.outcome)
    };
    let ids: Vec<TaskId> = elements.iter().map(|e| e.id).collect();
    apply(&store, &step).await;
    for (i, (id, item)) in ids.iter().zip(&items).enumerate() {
        let element = get_task(&store, *id).await;
        assert_eq!(element.item.as_ref(), Some(item), "item {i}, read");
        assert_eq!(element.element_index, Some(i as i32));
    }
    for claimed in claim_exactly(&store, "w", &ids).await {
        let i = claimed.task.element_index.unwrap() as usize;
        assert_eq!(
            claimed.task.item.as_ref(),
            Some(&items[i]),
            "item {i}, claimed"
        );
        let output = json!({"item": items[i].clone()});
        apply(
            &store,
            &StepCommit::completed(&claimed, json!({}), output, None, None),
        )
        .await;
    }
    let results = store.element_results(p).await.unwrap();
    assert_eq!(
        results.iter().map(|r| r.output.clone()).collect::<Vec<_>>(),
        items
            .iter()
            .map(|item| Some(json!({"item": item})))
            .collect::<Vec<_>>()
    );
}

/// An edit the domain would refuse (a key already used), applied anyway: the unique index
/// refuses it as `Invalid` naming `key`, and nothing changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_used_key_is_invalid() {
    let (store, _dir) = fresh().await;
    let new = baton_conformance::support::workflow(
        UserId::generate(),
        "keys",
        vec![transform(Some("a")), transform(Some("b"))],
    );
    create(&store, &new).await;
    let read = get_workflow(&store, new.id()).await;
    let duplicate = NewTask::new(TaskDraft {
        key: Some("a".into()),
        ..transform(None)
    })
    .unwrap();
    let forged = Edit {
        workflow_id: read.id,
        version: read.version,
        change: Change::AddTask {
            task: duplicate,
            position: 0,
        },
    };
    match store.apply_edit(&forged).await {
        Err(StoreError::Invalid(DomainError::Invalid(fields))) => {
            assert_eq!(fields[0].field, "key");
            assert_eq!(
                fields[0].message,
                "is already used by another task of this workflow"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(
        get_workflow(&store, new.id()).await,
        read,
        "nothing changed"
    );
}
