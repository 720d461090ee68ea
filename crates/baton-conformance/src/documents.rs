//! Documents of `store` tasks: written by the completing step, exactly once, and only when the
//! step applies.

use baton_domain::ports::Scope;
use baton_domain::ports::{DocumentFilter, DocumentStore, TaskQueue};
use baton_domain::{LeaseToken, NewDocument, StepApplied, StepCommit, UserId, WorkflowId};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    all_documents, apply, assert_not_found, claim_one, create_started, page, store_task, workflow,
};

/// A completed step with a document writes that one document, readable by its owner through
/// `list_documents` and `get_document`; a lost step (another token, or the same step applied
/// again) writes none.
pub async fn a_completed_step_writes_its_document_once<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(owner, "saves", vec![store_task("notes")]);
    create_started(&*store, &new).await;
    let claim = claim_one(&*store, "w").await;
    let document = NewDocument {
        id: uuid::Uuid::now_v7(),
        collection: "notes".into(),
        data: json!({"title": "hello", "tags": ["a", "b"]}),
    };

    let mut forged = claim.clone();
    forged.token = LeaseToken::new("intruder");
    let lost = StepCommit::completed(
        &forged,
        json!({}),
        json!({"id": document.id}),
        Some(document.clone()),
        None,
    );
    assert_eq!(store.apply_step(&lost).await.unwrap(), StepApplied::Lost);
    assert!(
        all_documents(&*store).await.is_empty(),
        "a lost step writes no document"
    );
    assert_not_found(
        store.get_document(Scope::All, document.id).await,
        "the lost step's document",
    );

    let step = StepCommit::completed(
        &claim,
        json!({"collection": "notes"}),
        json!({"id": document.id}),
        Some(document.clone()),
        None,
    );
    apply(&*store, &step).await;
    assert_eq!(
        store.apply_step(&step).await.unwrap(),
        StepApplied::Lost,
        "the same step again is lost"
    );

    let documents = all_documents(&*store).await;
    assert_eq!(documents.len(), 1, "exactly one document: {documents:?}");
    let stored = &documents[0];
    assert_eq!(stored.id, document.id);
    assert_eq!(stored.owner_id, owner);
    assert_eq!(stored.collection, "notes");
    assert_eq!(stored.workflow_id, new.id());
    assert_eq!(stored.task_id, claim.task.id);
    assert_eq!(stored.data, document.data);

    let scope = Scope::Owner(owner);
    assert_eq!(
        &store.get_document(scope, document.id).await.unwrap(),
        stored
    );
    let notes = store
        .list_documents(scope, in_collection("notes"), page(20, None))
        .await
        .unwrap();
    assert_eq!(notes.items, documents);
    assert_eq!(notes.next, None);
    let of_workflow = |id| DocumentFilter {
        workflow_id: Some(id),
        ..DocumentFilter::default()
    };
    let its = store
        .list_documents(scope, of_workflow(new.id()), page(20, None))
        .await
        .unwrap();
    assert_eq!(its.items, documents, "the workflow's documents");
    let others = store
        .list_documents(scope, of_workflow(WorkflowId::generate()), page(20, None))
        .await
        .unwrap();
    assert!(others.items.is_empty(), "another workflow's: none");
    let elsewhere = store
        .list_documents(scope, in_collection("other"), page(20, None))
        .await
        .unwrap();
    assert!(elsewhere.items.is_empty());
    let stranger = Scope::Owner(UserId::generate());
    assert_not_found(
        store.get_document(stranger, document.id).await,
        "another owner's document",
    );
    assert!(
        store
            .list_documents(stranger, DocumentFilter::default(), page(20, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_not_found(
        store.get_document(Scope::All, uuid::Uuid::now_v7()).await,
        "an unknown document",
    );
}

fn in_collection(name: &str) -> DocumentFilter {
    DocumentFilter {
        collection: Some(name.to_owned()),
        ..DocumentFilter::default()
    }
}
