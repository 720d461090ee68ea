//! jq programs (via jaq) run off the async runtime, with a time limit and a recursion guard.
//!
//! A program runs on a thread of its own with a large stack (kept for the next program, see
//! [`crate::jq_threads`]), under a guard ([`jq_guard`]) that
//! stops it (by unwinding its thread) once its deadline has passed or its recursion nears the
//! end of the stack, so endless loops and runaway recursion fail the task and give the CPU back
//! instead of spinning forever or overflowing the stack. The guard is consulted on every term
//! and every value `range` yields, which covers loops inside native builtins
//! (`last(range(1e18))`). Should a thread still run past its deadline, the task fails anyway and
//! the thread is counted in [`JqCache::runaway_programs`].

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_domain::{MAX_JQ_PROGRAM_CHARS, TaskError};
use jaq_core::load::parse::Def;
use jaq_core::load::{Arena, File, Loader, parse};
use jaq_core::{Compiler, Ctx, Vars, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

use crate::jq_bounds;
use crate::jq_errors;
use crate::jq_guard::{self, Guard, Guarded, GuardedData, Stop, stack_position};
use crate::jq_rewrite;
use crate::jq_threads::JqThreads;

/// Stack of a jq thread: reserved, not committed, until used.
pub(crate) const STACK_BYTES: usize = 256 * 1024 * 1024;
/// Stack a program may use before it is stopped, leaving room for native code below the guard.
pub(crate) const STACK_LIMIT: usize = STACK_BYTES - 16 * 1024 * 1024;

/// A compiled jq program.
pub(crate) type Program = jaq_core::Filter<Guarded>;

/// Compiled programs by source text, so a workflow's transforms compile once per process.
#[derive(Default)]
pub struct JqCache {
    programs: Mutex<HashMap<String, Arc<Program>>>,
    /// Program threads still running past their deadline.
    runaway: Arc<AtomicUsize>,
    /// Where programs run.
    threads: JqThreads,
}

/// Programs kept compiled; past that the cache starts over.
const CACHE_SIZE: usize = 512;

impl JqCache {
    /// Program threads still running past their deadline (loops inside one native builtin).
    pub fn runaway_programs(&self) -> usize {
        self.runaway.load(Ordering::Relaxed)
    }

    fn get(&self, program: &str) -> Option<Arc<Program>> {
        self.programs.lock().ok()?.get(program).cloned()
    }

    fn put(&self, program: String, compiled: Arc<Program>) {
        if let Ok(mut programs) = self.programs.lock() {
            if programs.len() >= CACHE_SIZE {
                programs.clear();
            }
            programs.insert(program, compiled);
        }
    }

    /// Runs `program` against `input`: one result → that value; several → an array; none → null.
    pub async fn run(
        &self,
        program: &str,
        input: Value,
        limit: Duration,
    ) -> Result<Value, TaskError> {
        let cached = self.get(program);
        let fresh = cached.is_none();
        let source = program.to_owned();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let runaway = self.runaway.clone();
        let job = Box::new(move || {
            let guard = Guard {
                deadline: Instant::now() + limit,
                stack_base: stack_position(),
                stack_limit: STACK_LIMIT,
            };
            let caught = catch_unwind(AssertUnwindSafe(|| {
                let compiled = match cached {
                    Some(compiled) => compiled,
                    None => Arc::new(compile(&source)?),
                };
                evaluate(&compiled, input, &guard).map(|value| (value, compiled))
            }));
            // Not stopped by the guard (nor crashed): the thread may run the next program.
            let ended_well = caught.is_ok();
            let outcome = caught.unwrap_or_else(|payload| match payload.downcast_ref::<Stop>() {
                Some(Stop::Deadline) => Err(timed_out(limit)),
                Some(Stop::TooDeep) => Err(TaskError::permanent(
                    "jq",
                    "the jq program recursed too deeply",
                )),
                Some(Stop::TooBig(what)) => Err(TaskError::permanent("jq", what.message())),
                None => Err(TaskError::permanent("jq", "the jq program crashed")),
            });
            if tx.send(outcome).is_err() {
                runaway.fetch_sub(1, Ordering::Relaxed);
            }
            ended_well
        });
        let spawned = self.threads.run(job, STACK_BYTES);
        if let Err(err) = spawned {
            return Err(TaskError::retryable(
                "jq",
                format!("cannot start the jq program: {err}"),
            ));
        }
        // The guard stops the program at the deadline; wait a little longer for it to say so.
        match tokio::time::timeout(limit + Duration::from_secs(1), rx).await {
            Ok(Ok(Ok((value, compiled)))) => {
                if fresh {
                    self.put(program.to_owned(), compiled);
                }
                Ok(value)
            }
            Ok(Ok(Err(error))) => Err(error),
            Ok(Err(_)) => Err(TaskError::permanent("jq", "the jq program crashed")),
            Err(_) => {
                self.runaway.fetch_add(1, Ordering::Relaxed);
                Err(timed_out(limit))
            }
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

/// Whether `program` compiles; a problem is a permanent `jq` error saying where it is. Call it
/// on a thread with a large stack ([`STACK_BYTES`]): jaq's parser recurses.
pub(crate) fn check(program: &str) -> Result<(), TaskError> {
    compile(program).map(drop)
}

fn compile(program: &str) -> Result<Program, TaskError> {
    compile_with(program, jq_guard::funs(), true)
}

/// The name the rewritten program is defined under, after jaq's definitions.
const MAIN: &str = "_baton_main";

/// Compiles `program` with these native filters; `bounded`, rewritten to call the bounded
/// operations of [`jq_bounds`] (which `funs` must then hold).
pub(crate) fn compile_with(
    program: &str,
    funs: impl Iterator<Item = jaq_core::native::Fun<Guarded>>,
    bounded: bool,
) -> Result<Program, TaskError> {
    // A program rendered from a template (or stored before the bound) may be longer: parsing
    // it could overflow even this thread's stack.
    if program.chars().count() > MAX_JQ_PROGRAM_CHARS {
        return Err(TaskError::permanent(
            "jq",
            format!("the jq program is longer than {MAX_JQ_PROGRAM_CHARS} characters"),
        ));
    }
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let arena = Arena::default();
    // Loaded as written first, for jaq's own account of what does not parse.
    let mut modules = load(program, &arena, defs.collect(), program)?;
    if bounded {
        // jaq's loader keeps its terms to itself: parse the program again, rewrite it and
        // jaq's definitions, and run it as the last definition.
        let main = parse(program, |p| p.term()).ok_or_else(|| {
            TaskError::permanent(
                "jq",
                "the jq program does not parse: modules cannot be declared, included or imported here",
            )
        })?;
        let main = jq_rewrite::def(Def {
            name: MAIN,
            args: Vec::new(),
            body: main,
        });
        let mut defs = Vec::new();
        for d in jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
        {
            defs.push(jq_rewrite::def(d));
        }
        defs.push(main);
        modules = load(program, &arena, defs, MAIN)?;
    }
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let undefined: Vec<_> = errs.into_iter().flat_map(|(_, e)| e).collect();
            TaskError::permanent("jq", jq_errors::compile(program, &undefined))
        })
}

/// Loads `code` after these definitions; a problem is told against `program`.
fn load<'s>(
    program: &str,
    arena: &'s Arena,
    defs: Vec<Def<&'s str>>,
    code: &'s str,
) -> Result<jaq_core::load::Modules<&'s str, ()>, TaskError> {
    Loader::new(defs)
        .load(arena, File { code, path: () })
        .map_err(|errs| TaskError::permanent("jq", jq_errors::load(program, &errs)))
}

pub(crate) fn evaluate(filter: &Program, input: Value, guard: &Guard) -> Result<Value, TaskError> {
    let input: Val = serde_json::from_value(input)
        .map_err(|e| TaskError::permanent("jq", format!("input is not JSON: {e}")))?;
    let data = GuardedData {
        lut: &filter.lut,
        guard,
    };
    let ctx = Ctx::<Guarded>::new(data, Vars::new([]));
    let mut results = Vec::new();
    for result in filter.id.run((ctx, input)).map(unwrap_valr) {
        guard.check();
        let value = result.map_err(|e| TaskError::permanent("jq", failed(&e.to_string())))?;
        let json: Value = serde_json::from_str(&jq_bounds::to_json(&value, guard))
            .map_err(|e| TaskError::permanent("jq", format!("the jq result is not JSON: {e}")))?;
        results.push(whole_numbers_as_integers(json));
    }
    Ok(match results.len() {
        0 => Value::Null,
        1 => results.pop().unwrap_or(Value::Null),
        _ => Value::Array(results),
    })
}

/// A run-time error of a program as a sentence: `error("no way")` reads `no way`, not `"no way"`.
fn failed(error: &str) -> String {
    let error = match serde_json::from_str::<Value>(error) {
        Ok(Value::String(text)) => text,
        _ => error.to_owned(),
    };
    format!("the jq program failed: {error}")
}

/// jq prints `68`, not `68.0`, for a whole float: so do we.
fn whole_numbers_as_integers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => items.into_iter().map(whole_numbers_as_integers).collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, whole_numbers_as_integers(v)))
            .collect(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    async fn run(program: &str, input: Value, limit: Duration) -> Result<Value, TaskError> {
        JqCache::default().run(program, input, limit).await
    }

    #[tokio::test]
    async fn compiled_programs_are_reused() {
        let cache = JqCache::default();
        assert_eq!(
            cache.run(".a", json!({"a": 1}), SECOND).await.unwrap(),
            json!(1)
        );
        assert!(cache.get(".a").is_some());
        assert_eq!(
            cache.run(".a", json!({"a": 2}), SECOND).await.unwrap(),
            json!(2)
        );
        assert!(cache.run(".a |||", json!({}), SECOND).await.is_err());
        assert!(cache.get(".a |||").is_none(), "errors are not cached");
    }

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
    async fn endless_programs_stop_at_the_deadline() {
        let cache = JqCache::default();
        for program in [
            "repeat(1)",
            "def f: f; f",
            "[repeat(1)] | length",
            "until(false; .)",
            "reduce range(1e18) as $x (0; . + 1)",
            // Loops inside one native builtin, over the guarded `range`.
            "last(range(1e18))",
            "[range(1e18)] | length",
            "first(range(1e18) | select(. < 0))",
        ] {
            let err = cache
                .run(program, json!(null), Duration::from_millis(200))
                .await
                .unwrap_err();
            assert_eq!(err.kind, "timeout", "{program}: {}", err.message);
        }
        // Had the guard not stopped them, the wait for their answer would have given up.
        assert_eq!(cache.runaway_programs(), 0, "every program thread stopped");
    }

    #[tokio::test]
    async fn the_guarded_range_counts_as_jqs_does() {
        for (program, expected) in [
            ("[range(4)]", json!([0, 1, 2, 3])),
            ("[range(2; 5)]", json!([2, 3, 4])),
            ("[range(0; 10; 3)]", json!([0, 3, 6, 9])),
            ("[range(5; 0; -2)]", json!([5, 3, 1])),
            ("[range(0; 1; 0.25)]", json!([0, 0.25, 0.5, 0.75])),
            ("[range(3; 1)]", json!([])),
            (
                "[range(0, 1; 3, 4)]",
                json!([0, 1, 2, 0, 1, 2, 3, 1, 2, 1, 2, 3]),
            ),
            ("last(range(1e5))", json!(99_999)),
        ] {
            assert_eq!(
                run(program, json!(null), SECOND).await.unwrap(),
                expected,
                "{program}"
            );
        }
        let err = run("[range(0; 3; \"a\")]", json!(null), SECOND)
            .await
            .unwrap_err();
        assert_eq!(err.kind, "jq", "{}", err.message);
    }

    #[tokio::test]
    async fn runaway_recursion_fails_instead_of_overflowing_the_stack() {
        for program in ["def f: 1 + f; f", "def f: [f]; f"] {
            let err = run(program, json!(null), Duration::from_secs(20))
                .await
                .unwrap_err();
            assert!(
                err.message.contains("too deeply"),
                "{program}: {}",
                err.message
            );
        }
    }

    #[tokio::test]
    async fn programs_that_would_take_the_memory_fail_for_good() {
        let cache = JqCache::default();
        for (program, what) in [
            ("\"x\" * 1e12", "a string over"),
            ("1e12 * \"x\"", "a string over"),
            ("\"x\" * 100000000", "a string over"),
            ("reduce range(40) as $i (\"x\"; . + .)", "a string over"),
            (
                "reduce range(40) as $i (\"x\"; \"\\(.)\\(.)\")",
                "a string over",
            ),
            ("reduce range(40) as $i (\"x\"; . += .)", "a string over"),
            ("reduce range(40) as $i ([1]; [.[], .[]])", "an array over"),
            ("reduce range(40) as $i ([1]; . + .)", "an array over"),
            ("[range(1e9)]", "an array over"),
            ("reduce range(40) as $i ([1]; [., .])", "a result over"),
            (
                "reduce range(40) as $i ([1]; [., .]) | tojson",
                "a string over",
            ),
            (
                "reduce range(40) as $i ([1]; [., .]) | \"\\(.)\"",
                "a string over",
            ),
            ("try (\"x\" * 1e12) catch \"caught\"", "a string over"),
            ("\"x\" * 20000000 | explode", "an array over"),
            ("\",\" * 20000000 | split(\",\")", "an array over"),
            ("\"x\" * 20000000 | split(\"\")", "an array over"),
        ] {
            let err = cache
                .run(program, json!(null), Duration::from_secs(60))
                .await
                .unwrap_err();
            assert_eq!(err.kind, "jq", "{program}: {}", err.message);
            assert!(!err.retryable, "{program}");
            assert!(err.message.contains(what), "{program}: {}", err.message);
        }
        assert_eq!(cache.runaway_programs(), 0, "every program thread stopped");
    }

    #[tokio::test]
    async fn ordinary_programs_keep_jqs_answers() {
        let input = json!({"a": 4, "s": "ab", "xs": [1, 2, 3], "o": {"k": {"x": 1}}});
        for (program, expected) in [
            (".a * 2", json!(8)),
            ("\"ab\" * 3", json!("ababab")),
            ("\"ab\" * 0", Value::Null),
            (". + {\"x\": 1} | .x", json!(1)),
            ("[.xs[] | . + 1]", json!([2, 3, 4])),
            (".xs + [4]", json!([1, 2, 3, 4])),
            (".s + \"c\"", json!("abc")),
            ("null + 1", json!(1)),
            (".o * {\"k\": {\"y\": 2}}", json!({"k": {"x": 1, "y": 2}})),
            ("[(1, 2) + (10, 20)]", json!([11, 21, 12, 22])),
            ("[(1, 2) * (10, 20)]", json!([10, 20, 20, 40])),
            (".a += 1 | .a", json!(5)),
            (".xs[] *= 2 | .xs", json!([2, 4, 6])),
            ("\"\\(.a)-\\(.s)!\"", json!("4-ab!")),
            ("@base64 \"x\\(.s)\"", json!("xYWI=")),
            ("[.xs[] | {v: .}] | map(.v) | add", json!(6)),
            ("[]", json!([])),
            ("try (\"a\" + 1) catch \"no\"", json!("no")),
            ("{a: 1} as {a: $x} | $x + 1", json!(2)),
            ("[limit(3; repeat(1))]", json!([1, 1, 1])),
            (".xs | join(\",\")", json!("1,2,3")),
            (".xs | tojson", json!("[1,2,3]")),
            (".o | tostring", json!("{\"k\":{\"x\":1}}")),
            ("\"v=\\(.xs)\"", json!("v=[1,2,3]")),
            ("@json \"v=\\(.s)\"", json!("v=\"ab\"")),
            ("@text \"\\(.a)\"", json!("4")),
            (".xs | @sh", json!("1 2 3")),
            ("\"a,b,c\" | split(\",\")", json!(["a", "b", "c"])),
            ("\"a1b\" | explode", json!([97, 49, 98])),
            (
                "[\"a,b\", \"c\"] | map(split(\",\"))",
                json!([["a", "b"], ["c"]]),
            ),
        ] {
            assert_eq!(
                run(program, input.clone(), SECOND).await.unwrap(),
                expected,
                "{program}"
            );
        }
    }
}
