use serde_json::{Value, json};

/// A valid workflow body with `n` transform tasks keyed `t0`, `t1`, …
pub fn workflow_body(name: &str, n: usize) -> Value {
    let tasks: Vec<Value> = (0..n)
        .map(|i| json!({"key": format!("t{i}"), "type": "transform", "input": {"jq": ".input"}}))
        .collect();
    json!({"name": name, "input": {"n": n}, "tasks": tasks})
}

pub fn id_of(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}
