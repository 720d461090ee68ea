//! Results on stdout: JSON for scripts (`--json`), short text for people.

use serde_json::Value;

use super::progress::{error_text, human_duration};

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or("-")
}

/// One line per workflow: id, status, created, name.
pub fn workflow_rows(page: &Value) -> String {
    let rows: Vec<[String; 4]> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            [
                text(w, "id").to_owned(),
                text(w, "status").to_owned(),
                text(w, "created_at").to_owned(),
                text(w, "name").to_owned(),
            ]
        })
        .collect();
    table(["ID", "STATUS", "CREATED", "NAME"], &rows)
}

/// One line per document: id, collection, workflow, the data (shortened).
pub fn document_rows(page: &Value) -> String {
    let rows: Vec<[String; 4]> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let data: String = d["data"].to_string().chars().take(80).collect();
            [
                text(d, "id").to_owned(),
                text(d, "collection").to_owned(),
                text(d, "workflow_id").to_owned(),
                data,
            ]
        })
        .collect();
    table(["ID", "COLLECTION", "WORKFLOW", "DATA"], &rows)
}

fn table(head: [&str; 4], rows: &[[String; 4]]) -> String {
    let mut widths = head.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 3 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = vec![line(head)];
    out.extend(
        rows.iter()
            .map(|r| line([r[0].as_str(), &r[1], &r[2], &r[3]])),
    );
    out.join("\n")
}

/// A workflow with its tasks, one line each, then its output or error.
pub fn workflow_detail(w: &Value) -> String {
    let mut out = vec![format!(
        "{}  {}  {}",
        text(w, "id"),
        text(w, "status"),
        text(w, "name")
    )];
    for task in w["tasks"].as_array().into_iter().flatten() {
        let name = task["key"]
            .as_str()
            .or_else(|| task["title"].as_str())
            .filter(|name| !name.is_empty())
            .map_or_else(String::new, |name| format!(" {name}"));
        let took = task_duration(task).map_or_else(String::new, |d| format!(" in {d}"));
        out.push(format!(
            "  #{}{name} ({})  {} (attempt {}){took}",
            task["position"].as_i64().unwrap_or(0),
            text(task, "type"),
            text(task, "status"),
            task["attempt"].as_i64().unwrap_or(0),
        ));
    }
    if !w["output"].is_null() {
        out.push(format!("output: {}", w["output"]));
    }
    if !w["error"].is_null() {
        out.push(format!("error: {}", error_text(&w["error"])));
    }
    out.join("\n")
}

fn task_duration(task: &Value) -> Option<String> {
    let at = |f: &str| {
        task[f]
            .as_str()
            .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
    };
    let d = (at("finished_at")? - at("started_at")?).to_std().ok()?;
    Some(human_duration(d))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_line_up_in_columns() {
        let page = json!({"data": [
            {"id": "a", "status": "completed", "created_at": "t1", "name": "first"},
            {"id": "bb", "status": "failed", "created_at": "t2", "name": "second"}
        ]});
        assert_eq!(
            workflow_rows(&page),
            "ID  STATUS     CREATED  NAME\na   completed  t1       first\nbb  failed     t2       second"
        );
    }
}
