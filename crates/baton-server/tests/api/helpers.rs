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

/// The fields a 422 names (`details.fields[].field`), in order.
pub fn error_fields(error: &Value) -> Vec<&str> {
    error["details"]["fields"]
        .as_array()
        .expect("details.fields")
        .iter()
        .map(|f| f["field"].as_str().expect("a field name"))
        .collect()
}
