//! What the guard and the bounds cost (the guarded `range`, the bounded `+`, `*` and `[…]`):
//! ordinary programs and counting loops timed with them and with jaq's own, in one process.
//! A measurement, not a check: run it in release,
//! `cargo test --release -p baton-engine --lib jq_timing -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::jq::{STACK_LIMIT, compile_with, evaluate};
use crate::jq_guard::{self, Guard, stack_position};

/// How a program is compiled: as jaq would, with the guarded `range` only (as before the
/// bounds), or as Baton runs it (the guarded `range` and the bounded operations).
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    Jaq,
    Guard,
    Bounded,
}

fn time(program: &str, input: &Value, setup: Setup, runs: u32) -> Duration {
    let funs: Vec<_> = if setup != Setup::Jaq {
        jq_guard::funs().collect()
    } else {
        jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .collect()
    };
    let filter = compile_with(program, funs.into_iter(), setup == Setup::Bounded).unwrap();
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
        ("reduce range(10000) as $i (\"\"; . + \"x\") | length", 50),
        (".input.items | map(\"id \\(.id): \\(.x)\") | length", 500),
    ] {
        // Alternate, twice each, so none gets a warmer cache.
        let mut totals = [Duration::ZERO; 3];
        for _ in 0..2 {
            for (total, setup) in totals
                .iter_mut()
                .zip([Setup::Jaq, Setup::Guard, Setup::Bounded])
            {
                *total += time(program, &input, setup, runs);
            }
        }
        let [jaq, guard, bounded] = totals.map(|t| t / 2);
        println!(
            "{program:<58} jaq's own {jaq:>10.1?}  guard {guard:>10.1?}  guard and bounds {bounded:>10.1?}  ({:+.1} %)",
            (bounded.as_secs_f64() / guard.as_secs_f64() - 1.0) * 100.0
        );
    }
}
