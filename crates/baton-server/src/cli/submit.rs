//! `baton run FILE`: the body of `POST /api/workflows` from a YAML or JSON file, with its input
//! replaced by `--input` when given.

use std::path::Path;

use serde_json::Value;

use super::error::CliError;

/// Reads a workflow file: JSON when it parses as JSON, else YAML.
pub fn read_workflow(path: &Path) -> Result<Value, CliError> {
    let text = read(path)?;
    let body = parse(&text).map_err(|err| {
        CliError::Input(format!(
            "{} is neither JSON nor YAML: {err}",
            path.display()
        ))
    })?;
    if !body.is_object() {
        return Err(CliError::Input(format!(
            "{} must hold an object (the body of POST /api/workflows)",
            path.display()
        )));
    }
    Ok(body)
}

/// `--input`: JSON text, or `@file` for a JSON or YAML file.
pub fn read_input(arg: &str) -> Result<Value, CliError> {
    match arg.strip_prefix('@') {
        Some(file) => {
            let path = Path::new(file);
            parse(&read(path)?).map_err(|err| {
                CliError::Input(format!(
                    "{} is neither JSON nor YAML: {err}",
                    path.display()
                ))
            })
        }
        None => serde_json::from_str(arg)
            .map_err(|err| CliError::Input(format!("--input is not JSON: {err}"))),
    }
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|err| CliError::Input(format!("cannot read {}: {err}", path.display())))
}

fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(_) => serde_yaml_ng::from_str(text).map_err(|err| err.to_string()),
    }
}

/// The request body: the file's, started, with `input` replaced when given.
pub fn body(mut workflow: Value, input: Option<Value>) -> Value {
    if let Some(map) = workflow.as_object_mut() {
        map.insert("start".into(), Value::Bool(true));
        if let Some(input) = input {
            map.insert("input".into(), input);
        }
    }
    workflow
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_and_json_give_the_same_body() {
        let yaml = "name: greet\ntasks:\n  - type: transform\n    input:\n      jq: '.input.who'\n";
        let json =
            r#"{"name": "greet", "tasks": [{"type": "transform", "input": {"jq": ".input.who"}}]}"#;
        assert_eq!(parse(yaml).unwrap(), parse(json).unwrap());
    }

    #[test]
    fn the_input_flag_replaces_the_file_input_and_the_run_starts() {
        let body = body(
            json!({"name": "x", "input": {"a": 1}}),
            Some(json!({"b": 2})),
        );
        assert_eq!(body, json!({"name": "x", "input": {"b": 2}, "start": true}));
        assert!(read_input("{not json").is_err());
        assert!(read_input("@/nonexistent/file.json").is_err());
    }
}
