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

/// The name filter matches a substring, ignoring case, with `%`, `_` and `\` taken literally,
/// within the scope, and pages like the unfiltered list.
pub async fn workflows_filter_by_name<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let stranger = UserId::generate();
    let weekly = new_workflow(&*store, owner, "Weekly report").await;
    new_workflow(&*store, owner, "daily digest").await;
    let percent = new_workflow(&*store, owner, "100% REPORT_v2").await;
    let slash = new_workflow(&*store, owner, "back\\slash").await;
    new_workflow(&*store, stranger, "weekly report").await;
    let scope = Scope::Owner(owner);
    let named = |name: &str| WorkflowFilter {
        name: Some(name.to_owned()),
        ..WorkflowFilter::default()
    };
    let ids = async |filter: WorkflowFilter, after: Option<Uuid>| {
        let got = store
            .list_workflows(scope, filter, page(1, after))
            .await
            .unwrap();
        (got.items.iter().map(|w| w.id).collect::<Vec<_>>(), got.next)
    };
    let (first, next) = ids(named("REPORT"), None).await;
    assert_eq!(first, [percent], "newest first, case ignored");
    let (second, next) = ids(named("REPORT"), next).await;
    assert_eq!(
        second,
        [weekly],
        "the next page continues the filtered list"
    );
    assert_eq!(
        next, None,
        "the stranger's report is not in the owner's list"
    );
    assert_eq!(ids(named("0% r"), None).await.0, [percent]);
    assert_eq!(ids(named("t_v"), None).await.0, [percent], "`_` is literal");
    assert_eq!(ids(named("%"), None).await.0, [percent], "`%` is literal");
    assert_eq!(ids(named("k\\s"), None).await.0, [slash], "`\\` is literal");
    assert_eq!(
        ids(named("nothing"), None).await.0,
        Vec::<WorkflowId>::new()
    );
}
