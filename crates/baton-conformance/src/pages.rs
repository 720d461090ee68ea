//! Keyset pages: newest first, and stable while new items are created between page reads.

use baton_domain::ports::WorkflowStore;
use baton_domain::ports::{Scope, TaskFilter, WorkflowFilter};
use baton_domain::{UserId, WorkflowId};
use uuid::Uuid;

use crate::support::{create, page, transforms};
use crate::{ConformantStore, StoreFactory};

async fn new_workflow<S: ConformantStore>(store: &S, owner: UserId, name: &str) -> WorkflowId {
    let new = transforms(owner, name, 1);
    create(store, &new).await;
    new.id()
}

/// Pages of 2 over 5 workflows, with workflows created (by the owner and by someone else)
/// between the reads: each of the 5 is seen exactly once, newest first, and nothing newer
/// than the first page slips in.
pub async fn workflow_pages_are_stable_under_inserts<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let stranger = UserId::generate();
    let mut old = Vec::new();
    for i in 0..5 {
        old.push(new_workflow(&*store, owner, &format!("old {i}")).await);
        new_workflow(&*store, stranger, "not mine").await;
    }
    let scope = Scope::Owner(owner);

    let mut seen = Vec::new();
    let mut after: Option<Uuid> = None;
    let mut pages = 0;
    loop {
        let got = store
            .list_workflows(scope, WorkflowFilter::default(), page(2, after))
            .await
            .unwrap();
        pages += 1;
        assert!(got.items.len() <= 2, "at most the limit");
        assert!(
            got.items.iter().all(|w| w.owner_id == owner),
            "only the owner's"
        );
        seen.extend(got.items.iter().map(|w| w.id));
        new_workflow(&*store, owner, "newer").await;
        new_workflow(&*store, stranger, "newer, not mine").await;
        match got.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "the pages end");
    }
    let mut expected = old.clone();
    expected.reverse();
    assert_eq!(seen, expected, "each old workflow once, newest first");

    let first = store
        .list_workflows(scope, WorkflowFilter::default(), page(2, None))
        .await
        .unwrap();
    assert!(
        first.items.iter().all(|w| !old.contains(&w.id)),
        "a fresh first page starts at the newest"
    );
}

/// The same for tasks: pages of 2 over the tasks of 5 workflows, with workflows created
/// between the reads.
pub async fn task_pages_are_stable_under_inserts<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let mut old = Vec::new();
    for i in 0..5 {
        let new = transforms(owner, &format!("old {i}"), 1);
        create(&*store, &new).await;
        old.push(new.tasks()[0].id());
    }
    let scope = Scope::Owner(owner);

    let mut seen = Vec::new();
    let mut after: Option<Uuid> = None;
    for _ in 0..10 {
        let got = store
            .list_tasks(scope, TaskFilter::default(), page(2, after))
            .await
            .unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.iter().map(|t| t.id));
        new_workflow(&*store, owner, "newer").await;
        match got.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    old.reverse();
    assert_eq!(seen, old, "each old task once, newest first");
}
