//! What the guard and the bounds cost (the guarded `range`, the bounded `+`, `*` and `[…]`):
//! ordinary programs and counting loops timed with them and with jaq's own, in one process. A measurement, not a check: run it in release,
//! `cargo test --release -p baton-engine --lib jq_timing -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::jq::{STACK_LIMIT, compile_with, evaluate};
use crate::jq_guard::{self, Guard, stack_position};

fn time(program: &str, input: &Value, guarded: bool, runs: u32) -> Duration {
    let funs: Vec<_> = if guarded {
        jq_guard::funs().collect()
    } else {
        jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .collect()
    };
    let filter = compile_with(program, funs.into_iter(), guarded).unwrap();
    let guard = Guard {
        deadline: Instant::now() + Duration::from_secs(600),
        stack_base: stack_position(),
        stack_limit: STACK_LIMIT,
    };
    let started = Instant::now();
    for _ in 0..runs {
        evaluate(&filter, input.clone(), &guard).unwrap();
    }
    started.elapsed() / runs
}

#[test]
#[ignore = "a measurement: run it in release"]
fn jq_timing() {
    let items: Vec<Value> = (0..1_000).map(|i| json!({"id": i, "x": i * 2})).collect();
    let input = json!({"input": {"items": items}, "prev": {"a": {"b": 1}}});
    for (program, runs) in [
        (".prev.a.b", 20_000),
        (".input.items | map(.x * 2) | add", 500),
        (
            "[.input.items[] | select(.id % 2 == 0) | {id}] | length",
            500,
        ),
        ("[range(1000)] | length", 2_000),
        ("reduce range(1000000) as $i (0; . + $i)", 5),
        ("last(range(1000000))", 5),
    ] {
        // Alternate, twice each, so neither side gets a warmer cache.
        let mut stock = Duration::ZERO;
        let mut guarded = Duration::ZERO;
        for _ in 0..2 {
            stock += time(program, &input, false, runs);
            guarded += time(program, &input, true, runs);
        }
        println!(
            "{program:<58} jaq's own {:>10.1?}  guarded {:>10.1?}  ({:+.1} %)",
            stock / 2,
            guarded / 2,
            (guarded.as_secs_f64() / stock.as_secs_f64() - 1.0) * 100.0
        );
    }
}
