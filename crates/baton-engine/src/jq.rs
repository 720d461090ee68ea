//! jq programs (via jaq) run off the async runtime, with a time limit.
//!
//! A program runs on a thread of its own; its results are collected there, checking the deadline
//! between results. A program that computes forever without producing a result cannot be
//! interrupted inside jaq: the task fails with a timeout at the deadline and the thread is left
//! to finish on its own (counted in [`runaway_programs`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use baton_domain::TaskError;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

static RUNAWAY: AtomicUsize = AtomicUsize::new(0);

/// jq threads still running past their deadline.
pub fn runaway_programs() -> usize {
    RUNAWAY.load(Ordering::Relaxed)
}

/// Runs `program` against `input`: one result → that value; several → an array; none → null.
pub async fn run(program: &str, input: Value, limit: Duration) -> Result<Value, TaskError> {
    let program = program.to_owned();
    let deadline = Instant::now() + limit;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("baton-jq".into())
        .stack_size(16 * 1024 * 1024)
        .spawn(move || {
            let result = evaluate(&program, input, deadline);
            if tx.send(result).is_err() {
                RUNAWAY.fetch_sub(1, Ordering::Relaxed);
            }
        });
    if let Err(err) = spawned {
        return Err(TaskError::retryable(
            "jq",
            format!("cannot start the jq program: {err}"),
        ));
    }
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(TaskError::permanent("jq", "the jq program crashed")),
        Err(_) => {
            RUNAWAY.fetch_add(1, Ordering::Relaxed);
            Err(timed_out(limit))
        }
    }
}

fn timed_out(limit: Duration) -> TaskError {
    TaskError::permanent(
        "timeout",
        format!(
            "the jq program did not finish within {} ms",
            limit.as_millis()
        ),
    )
}

fn evaluate(program: &str, input: Value, deadline: Instant) -> Result<Value, TaskError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let loader = Loader::new(defs);
    let modules = loader
        .load(
            &arena,
            File {
                code: program,
                path: (),
            },
        )
        .map_err(|errs| {
            TaskError::permanent("jq", format!("the jq program does not parse: {errs:?}"))
        })?;
    let filter = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            TaskError::permanent("jq", format!("the jq program does not compile: {errs:?}"))
        })?;
    let input: Val = serde_json::from_value(input)
        .map_err(|e| TaskError::permanent("jq", format!("input is not JSON: {e}")))?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut results = Vec::new();
    for result in filter.id.run((ctx, input)).map(unwrap_valr) {
        if Instant::now() > deadline {
            return Err(timed_out(
                deadline.saturating_duration_since(Instant::now()),
            ));
        }
        let value = result.map_err(|e| TaskError::permanent("jq", format!("jq error: {e}")))?;
        let json: Value = serde_json::from_str(&value.to_string())
            .map_err(|e| TaskError::permanent("jq", format!("the jq result is not JSON: {e}")))?;
        results.push(json);
    }
    Ok(match results.len() {
        0 => Value::Null,
        1 => results.pop().unwrap_or(Value::Null),
        _ => Value::Array(results),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn one_result_many_results_and_none() {
        let input = json!({"a": [1, 2, 3], "s": "x"});
        assert_eq!(
            run(".a | map(. * 2)", input.clone(), SECOND).await.unwrap(),
            json!([2, 4, 6])
        );
        assert_eq!(
            run(".a[]", input.clone(), SECOND).await.unwrap(),
            json!([1, 2, 3])
        );
        assert_eq!(
            run("empty", input.clone(), SECOND).await.unwrap(),
            Value::Null
        );
        assert_eq!(
            run("{s: (.s + \"y\"), n: (.a | length)}", input, SECOND)
                .await
                .unwrap(),
            json!({"s": "xy", "n": 3})
        );
    }

    #[tokio::test]
    async fn errors_are_permanent_and_say_why() {
        let err = run(".a |||", json!({}), SECOND).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("parse"), "{}", err.message);
        let err = run("error(\"boom\")", json!({}), SECOND).await.unwrap_err();
        assert!(err.message.contains("boom"), "{}", err.message);
    }

    #[tokio::test]
    async fn endless_programs_time_out() {
        let started = Instant::now();
        let err = run("repeat(1)", json!(null), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err.kind, "timeout");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
