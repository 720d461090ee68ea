//! Schedules: checked at creation (nothing stored otherwise), their next ticks computed in
//! their zone, paused, resumed and deleted; fired once per tick by any number of instances on
//! one store, never while paused; paused by Baton when their definition no longer validates.

use std::collections::BTreeMap;
use std::time::Duration;

use baton_testkit::{Api, TestApp, expect_status, wait_until};
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Europe::Paris;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::definitions::{create_definition, definition};
use crate::runs::WAIT;

async fn create_schedule(app: &impl Api, body: &Value) -> Value {
    expect_status(
        app.post_json("/api/schedules", body).await,
        StatusCode::CREATED,
    )
    .await
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Every workflow of the app, through the API's pages.
async fn all_workflows(app: &impl Api) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/workflows?limit=100&cursor={c}"),
            None => "/api/workflows?limit=100".to_owned(),
        };
        let page = expect_status(app.get(&path).await, StatusCode::OK).await;
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schedules_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    create_definition(
        &app,
        &json!({
            "name": "digest",
            "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "tasks": [{"type": "transform", "input": {"jq": "."}}]
        }),
    )
    .await;
    let ok = json!({"definition": "digest", "cron": "0 9 * * *"});
    let with = |key: &str, value: Value| {
        let mut body = ok.clone();
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("cron", json!("61 * * * *")), "cron"),
        (with("cron", json!("every day")), "cron"),
        (with("timezone", json!("Mars/Olympus")), "timezone"),
        (with("definition", json!("nope")), "definition"),
        (with("definition", json!("a b")), "definition"),
        (with("version", json!(9)), "definition"),
        (with("misfire", json!("later")), "misfire"),
        (with("input", json!({"n": "x"})), "input"),
    ] {
        let response = app.post_json("/api/schedules", &body).await;
        let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
        assert_eq!(
            error["details"]["fields"][0]["field"], field,
            "{body}: {error}"
        );
    }
    let unknown_field = app
        .post_json("/api/schedules", &with("every", json!(1)))
        .await;
    expect_status(unknown_field, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.count("schedules").await, 0, "nothing stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_shows_its_next_ticks_in_its_zone_and_is_paused_resumed_and_deleted() {
    let app = TestApp::spawn().await;
    create_definition(&app, &definition("digest", "1")).await;
    let before = Utc::now();
    let response = app
        .post_json(
            "/api/schedules",
            &json!({"definition": "digest", "cron": "0 9 * * *", "timezone": "Europe/Paris"}),
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created = expect_status(response, StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/schedules/{id}"));
    assert_eq!(
        (
            &created["definition"],
            &created["version"],
            &created["misfire"]
        ),
        (&json!("digest"), &Value::Null, &json!("skip"))
    );
    assert_eq!(
        (&created["paused"], &created["last_fired_at"]),
        (&json!(false), &Value::Null)
    );

    let shown = expect_status(app.get(&location).await, StatusCode::OK).await;
    let ticks: Vec<DateTime<Utc>> = shown["next_fire_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(time)
        .collect();
    assert_eq!(ticks.len(), 5);
    assert_eq!(time(&shown["next_fire_at"]), ticks[0]);
    assert!(ticks[0] > before);
    assert!(ticks[0] - before <= chrono::Duration::hours(25));
    for (i, tick) in ticks.iter().enumerate() {
        let local = tick.with_timezone(&Paris);
        assert_eq!(
            (local.hour(), local.minute(), local.second()),
            (9, 0, 0),
            "09:00 in Paris: {tick}"
        );
        if i > 0 {
            assert_eq!(
                local.date_naive() - ticks[i - 1].with_timezone(&Paris).date_naive(),
                chrono::Duration::days(1)
            );
        }
    }
    assert!(
        shown["next_fire_times"][0].as_str().unwrap().ends_with('Z'),
        "in UTC: {shown}"
    );

    let paused = expect_status(
        app.post_json(&format!("{location}/pause"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(paused["paused"], true);
    let again = expect_status(
        app.post_json(&format!("{location}/pause"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        again["updated_at"], paused["updated_at"],
        "pausing again changes nothing"
    );
    let read = expect_status(app.get(&location).await, StatusCode::OK).await;
    assert_eq!(read["paused"], true);

    let resumed = expect_status(
        app.post_json(&format!("{location}/resume"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resumed["paused"], false);
    assert_eq!(
        time(&resumed["next_fire_at"]),
        ticks[0],
        "the first tick after now"
    );
    let list = expect_status(app.get("/api/schedules").await, StatusCode::OK).await;
    assert_eq!(list["data"][0]["id"], json!(id));

    let in_use = app.delete("/api/definitions/digest").await;
    let error = expect_status(in_use, StatusCode::CONFLICT).await;
    assert!(
        error["error"].as_str().unwrap().contains("schedule"),
        "{error}"
    );

    expect_status(app.delete(&location).await, StatusCode::NO_CONTENT).await;
    expect_status(app.get(&location).await, StatusCode::NOT_FOUND).await;
    expect_status(app.delete(&location).await, StatusCode::NOT_FOUND).await;
    expect_status(
        app.post_json(&format!("{location}/resume"), &json!({}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        app.get("/api/schedules/not-a-uuid").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        app.delete("/api/definitions/digest").await,
        StatusCode::NO_CONTENT,
    )
    .await;
}

/// Two instances on one store, a schedule firing every second for about ten seconds: each
/// tick has exactly one run and none is missing between the first and the last; after a
/// pause, no run is added.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_fire_each_tick_once_and_not_after_a_pause() {
    let fast = [("BATON_SCHEDULER_POLL_MS", "50")];
    let a = TestApp::spawn_with(&fast).await;
    let b = a.sibling(&fast).await;
    create_definition(&a, &definition("tick", "{tick: .input.n}")).await;
    let schedule = create_schedule(
        &b,
        &json!({"definition": "tick", "cron": "* * * * * *", "input": {"n": 1}}),
    )
    .await;
    let id = schedule["id"].as_str().unwrap().to_owned();

    wait_until(
        "ten ticks have their runs",
        Duration::from_secs(60),
        || async { a.count("workflows").await >= 10 },
    )
    .await;
    let paused = expect_status(
        a.post_json(&format!("/api/schedules/{id}/pause"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(paused["paused"], true);
    let at_pause = a.count("workflows").await;
    // Wall time, on purpose: at least two ticks of the cron pass while it is paused.
    let resume_by = Utc::now() + chrono::Duration::milliseconds(2_500);
    wait_until("two ticks have passed", Duration::from_secs(10), || async {
        Utc::now() >= resume_by
    })
    .await;
    assert_eq!(
        a.count("workflows").await,
        at_pause,
        "no run after the pause"
    );

    let runs = all_workflows(&a).await;
    assert_eq!(runs.len() as i64, at_pause);
    let mut per_tick: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for run in &runs {
        assert_eq!(run["schedule"]["id"], json!(id), "{run}");
        assert_eq!(run["definition"], json!({"name": "tick", "version": 1}));
        *per_tick.entry(time(&run["schedule"]["at"])).or_default() += 1;
    }
    assert!(
        per_tick.values().all(|n| *n == 1),
        "exactly one run per tick: {per_tick:?}"
    );
    let ticks: Vec<DateTime<Utc>> = per_tick.keys().copied().collect();
    for pair in ticks.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "no tick missing between {} and {}: {ticks:?}",
            pair[0],
            pair[1]
        );
    }
    let shown = expect_status(a.get(&format!("/api/schedules/{id}")).await, StatusCode::OK).await;
    assert!(shown["last_fired_at"].is_string());
    let last = runs
        .iter()
        .find(|r| time(&r["schedule"]["at"]) == ticks[0])
        .unwrap();
    let done = a
        .wait_for_workflow(last["id"].as_str().unwrap(), crate::runs::DONE, WAIT)
        .await;
    assert_eq!(
        done["output"],
        json!({"tick": 1}),
        "a run is an ordinary run"
    );
}

/// A tick whose run would not be a valid workflow (a secret its definition names was
/// deleted) is consumed: the schedule is paused with the reason, and no run is created.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_whose_definition_no_longer_validates_is_paused_with_the_reason() {
    let app = TestApp::spawn_with(&[("BATON_SCHEDULER_POLL_MS", "50")]).await;
    expect_status(
        app.post_json(
            "/api/secrets",
            &json!({"name": "TOKEN", "value": "tk-12345678"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    create_definition(
        &app,
        &json!({"name": "keyed", "tasks": [{"type": "fetch",
            "input": {"url": "http://127.0.0.1:9/x", "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"}}}]}),
    )
    .await;
    expect_status(
        app.delete("/api/secrets/TOKEN").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let schedule =
        create_schedule(&app, &json!({"definition": "keyed", "cron": "* * * * * *"})).await;
    let path = format!("/api/schedules/{}", schedule["id"].as_str().unwrap());
    wait_until("Baton paused the schedule", WAIT, || async {
        let shown = expect_status(app.get(&path).await, StatusCode::OK).await;
        shown["paused"] == true
    })
    .await;
    let shown = expect_status(app.get(&path).await, StatusCode::OK).await;
    let reason = shown["last_error"].as_str().unwrap();
    assert!(
        reason.contains("TOKEN") && reason.contains("keyed"),
        "{reason}"
    );
    assert_eq!(app.count("workflows").await, 0, "no run");
    let resumed = expect_status(
        app.post_json(&format!("{path}/resume"), &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        resumed["last_error"],
        Value::Null,
        "a resume forgets the reason"
    );
}
