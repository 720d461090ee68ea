//! Lists cost a constant number of statements whatever they hold; big workflows go in and move
//! in a constant number too.

use baton_conformance::support::{
    apply, claim_one, create, page, store_task, transforms, workflow,
};
use baton_domain::ports::{
    DocumentStore, PageRequest, Scope, TaskFilter, WorkflowFilter, WorkflowStore,
};
use baton_domain::{NewDocument, StepCommit, TaskPatch, UserId};
use baton_sqlite::SqliteStore;
use serde_json::json;

use crate::fresh;

/// The statements one call of `f` sends.
async fn cost<F, Fut, T>(store: &SqliteStore, f: F) -> u64
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let before = store.statements_executed();
    f().await;
    store.statements_executed() - before
}

async fn list_costs(store: &SqliteStore, owner: UserId) -> [u64; 4] {
    let scope = Scope::Owner(owner);
    [
        cost(store, || {
            store.list_workflows(scope, WorkflowFilter::default(), page(100, None))
        })
        .await,
        cost(store, || {
            store.list_workflows(
                Scope::All,
                WorkflowFilter::default(),
                PageRequest::default(),
            )
        })
        .await,
        cost(store, || {
            store.list_tasks(scope, TaskFilter::default(), page(100, None))
        })
        .await,
        cost(store, || store.list_documents(scope, None, page(100, None))).await,
    ]
}

async fn add_documented_workflows(store: &SqliteStore, owner: UserId, n: usize) {
    for i in 0..n {
        let new = workflow(owner, &format!("w{i}"), vec![store_task("notes")]);
        baton_conformance::support::create_started(store, &new).await;
        let claim = claim_one(store, "w").await;
        let document = NewDocument {
            id: uuid::Uuid::now_v7(),
            collection: "notes".into(),
            data: json!({"i": i}),
        };
        let step = StepCommit::completed(&claim, json!({}), json!({}), Some(document), None);
        apply(store, &step).await;
        create(store, &transforms(owner, "pending", 4)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_cost_a_constant_number_of_statements() {
    let (store, _dir) = fresh().await;
    let owner = UserId::generate();
    add_documented_workflows(&store, owner, 1).await;
    let few = list_costs(&store, owner).await;
    add_documented_workflows(&store, owner, 30).await;
    let many = list_costs(&store, owner).await;
    assert_eq!(few, many, "the same statements for 2 workflows as for 62");
    assert!(
        many.iter().all(|&n| n <= 4),
        "a page and its tasks, in one read transaction: {many:?}"
    );
    let listed = store
        .list_workflows(
            Scope::Owner(owner),
            WorkflowFilter::default(),
            page(100, None),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 62);
    assert_eq!(
        listed.items.iter().map(|w| w.tasks.len()).sum::<usize>(),
        31 + 30 * 4 + 4
    );
}

/// A workflow of the most tasks allowed is stored in one insert, and moving its first task to
/// the end (999 neighbours shifting) costs as much as moving it one place.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_tasks_insert_and_move_in_constant_statements() {
    let (store, _dir) = fresh().await;
    let new = transforms(
        UserId::generate(),
        "big",
        baton_domain::MAX_TASKS_PER_WORKFLOW,
    );
    let created = cost(&store, || store.create_workflow(&new, None)).await;
    assert!(created <= 4, "begin, workflow, tasks, commit: {created}");

    let mut costs = Vec::new();
    for to in [1, 999] {
        let read = baton_conformance::support::get_workflow(&store, new.id()).await;
        let first = read.tasks[0].id;
        let patch = TaskPatch {
            position: Some(to),
            ..TaskPatch::default()
        };
        let edit = read.update_task(first, &patch, None).unwrap();
        costs.push(cost(&store, || store.apply_edit(&edit)).await);
        let after = baton_conformance::support::get_workflow(&store, new.id()).await;
        assert!(
            after
                .tasks
                .iter()
                .enumerate()
                .all(|(i, t)| t.position == i as i32)
        );
        assert_eq!(after.tasks[to as usize].id, first);
    }
    assert_eq!(costs[0], costs[1], "{costs:?}");
}
