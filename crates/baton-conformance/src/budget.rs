//! Budgets of llm calls: reservations decided under the workflow's lock keep calls in flight
//! within the budget, ledger lines settle them, a refused call pauses the workflow, and
//! resuming queues the tasks the budget parked.

use baton_domain::ports::{LlmStore, WorkflowStore};
use baton_domain::{
    Budget, BudgetAsk, BudgetDecision, LlmCall, StepCommit, TaskDraft, TaskId, TaskStatus, UserId,
    WorkflowStatus,
};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    apply, claim, claim_one, create_started, events_of, get_task, get_workflow, transforms, types,
    workflow,
};

fn tokens(n: u64) -> BudgetAsk {
    BudgetAsk {
        tokens: Some(n),
        cost_usd: Some(0.0),
    }
}

fn budget(max_tokens: u64) -> Option<Budget> {
    Some(Budget::new("budget", Some(max_tokens), None).expect("a budget"))
}

fn settled(workflow: baton_domain::WorkflowId, task: TaskId, owner: UserId, used: u64) -> LlmCall {
    LlmCall {
        id: uuid::Uuid::now_v7(),
        owner_id: owner,
        workflow_id: workflow,
        task_id: task,
        attempt: 1,
        model: "m".into(),
        prompt_tokens: used,
        completion_tokens: 0,
        estimated: false,
        latency_ms: 1,
        first_token_ms: None,
        finish_reason: Some("stop".into()),
        cost_usd: None,
        cached: false,
        error: None,
    }
}

/// Calls reserve their worst case: what fits beside the ledger and the other reservations is
/// kept, what does not pauses the workflow (and nothing fits while paused); a ledger line
/// settles its task's reservation; resuming clears the pause, once.
pub async fn reservations_keep_calls_in_flight_within_the_budget<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = transforms(owner, "budgeted", 3).with_budget(budget(300));
    create_started(&*store, &new).await;
    let (a, b, c) = (
        new.tasks()[0].id(),
        new.tasks()[1].id(),
        new.tasks()[2].id(),
    );
    let id = new.id();
    assert_eq!(get_workflow(&*store, id).await.budget, budget(300));

    let reserve = |task, n| store.reserve_budget(id, task, tokens(n));
    assert_eq!(reserve(a, 100).await.unwrap(), BudgetDecision::Fits);
    assert_eq!(reserve(b, 150).await.unwrap(), BudgetDecision::Fits);
    // A task's own reservation is replaced, not added to.
    assert_eq!(reserve(b, 150).await.unwrap(), BudgetDecision::Fits);
    let BudgetDecision::Exceeded(detail) = reserve(c, 100).await.unwrap() else {
        panic!("100 more does not fit beside 250 reserved in 300");
    };
    assert_eq!(detail["reserved"]["tokens"], 250, "{detail}");
    assert_eq!(detail["needed"]["tokens"], 100, "{detail}");
    let paused = get_workflow(&*store, id).await;
    assert_eq!(paused.status, WorkflowStatus::Paused);
    assert_eq!(paused.paused.as_ref(), Some(&detail));
    assert!(
        matches!(reserve(a, 1).await.unwrap(), BudgetDecision::Exceeded(_)),
        "nothing fits while paused"
    );
    let listed = store
        .list_workflows(
            baton_domain::ports::Scope::Owner(owner),
            baton_domain::ports::WorkflowFilter {
                status: Some(WorkflowStatus::Paused),
                name: None,
            },
            crate::support::page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "listed as paused");

    // a's call used 45 tokens (its reservation, refused above, is gone: only b's 150 is held).
    store
        .record_calls(&[settled(id, a, owner, 45)])
        .await
        .unwrap();
    assert!(store.resume_paused(id).await.unwrap());
    assert!(!store.resume_paused(id).await.unwrap(), "resumed once");
    let resumed = get_workflow(&*store, id).await;
    assert_eq!(resumed.status, WorkflowStatus::Running);
    assert_eq!(resumed.paused, None);
    assert!(types(&events_of(&*store, id).await).contains(&"workflow.resumed"));
    // 45 spent + 150 reserved + 100 = 295.
    assert_eq!(reserve(c, 100).await.unwrap(), BudgetDecision::Fits);
    // b settles at 10: 45 + 10 spent, 100 (c) reserved, and 145 more is 300.
    store
        .record_calls(&[settled(id, b, owner, 10)])
        .await
        .unwrap();
    assert_eq!(reserve(a, 145).await.unwrap(), BudgetDecision::Fits);

    let free = transforms(owner, "free", 1);
    create_started(&*store, &free).await;
    assert_eq!(
        store
            .reserve_budget(free.id(), free.tasks()[0].id(), tokens(1_000_000))
            .await
            .unwrap(),
        BudgetDecision::Unlimited
    );
}

/// An llm task the budget parked is never runnable by itself: resuming its workflow queues
/// it; parked after a resume, it is woken by `wake_unpaused`.
pub async fn resuming_queues_the_tasks_the_budget_parked<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let llm = TaskDraft {
        task_type: "llm".into(),
        input: Some(json!({"prompt": "hi", "max_tokens": 10})),
        ..TaskDraft::default()
    };
    let new = workflow(owner, "parks", vec![llm]).with_budget(budget(5));
    create_started(&*store, &new).await;
    let claimed = claim_one(&*store, "w").await;
    assert!(matches!(
        store
            .reserve_budget(new.id(), claimed.task.id, tokens(12))
            .await
            .unwrap(),
        BudgetDecision::Exceeded(_)
    ));
    let step = StepCommit::budget_parked(&claimed, json!({}), json!({"needed": 12}), None);
    assert_eq!(apply(&*store, &step).await, None);
    let task = get_task(&*store, claimed.task.id).await;
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!((task.attempt, task.available_at), (0, None));
    assert!(claim(&*store, "w", 2).await.is_empty(), "parked");
    assert!(
        !store.wake_unpaused(new.id()).await.unwrap(),
        "still paused: nothing woken"
    );
    let kinds = types(&events_of(&*store, new.id()).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert!(kinds.contains(&"budget.exceeded".to_owned()), "{kinds:?}");

    assert!(store.resume_paused(new.id()).await.unwrap());
    let again = claim_one(&*store, "w").await;
    assert_eq!(again.task.id, claimed.task.id);

    // Parked again after a resume that came first: woken by the check after the park.
    let step = StepCommit::budget_parked(&again, json!({}), json!({}), None);
    assert_eq!(apply(&*store, &step).await, None);
    assert!(store.wake_unpaused(new.id()).await.unwrap());
    assert_eq!(claim_one(&*store, "w").await.task.id, claimed.task.id);
}
