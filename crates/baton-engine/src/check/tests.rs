use serde_json::json;

use super::*;

fn problems(tasks: &[(Option<&str>, TaskType, Value)], llm: bool) -> Vec<Problem> {
    checked(tasks, llm).problems
}

fn checked(tasks: &[(Option<&str>, TaskType, Value)], llm: bool) -> Checked {
    let steps: Vec<Step<'_>> = tasks
        .iter()
        .map(|(key, task_type, input)| Step {
            id: TaskId::generate(),
            key: *key,
            task_type: *task_type,
            input,
            depends_on: None,
            when: None,
            for_each: None,
        })
        .collect();
    check(&steps, llm)
}

fn one(tasks: &[(Option<&str>, TaskType, Value)]) -> Problem {
    let mut found = problems(tasks, true);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

#[test]
fn a_valid_workflow_has_no_problem() {
    let tasks = [
        (
            Some("get"),
            TaskType::Fetch,
            json!({"url": "{{ input.base }}/x?q={{ input.q | urlencode }}"}),
        ),
        (
            None,
            TaskType::Transform,
            json!({"jq": "{a: .prev.body, s: .steps.get.status, w: .workflow.name}"}),
        ),
        (
            Some("save"),
            TaskType::Store,
            json!({"collection": "c", "document": {"x": "{{ prev }}", "n": "{{ range(3) | list }}",
                   "d": "{{ input.maybe | default(null) }}",
                   "l": "{% for i in input.items %}{{ loop.index }}{{ i.name }}{% endfor %}"}}),
        ),
        (
            None,
            TaskType::Llm,
            json!({"prompt": "Summarize {{ steps.get.output.body }} for {{ workflow.name }}"}),
        ),
    ];
    assert_eq!(problems(&tasks, true), []);
}

#[test]
fn unknown_and_later_steps() {
    let found = one(&[
        (Some("shape"), TaskType::Transform, json!({"jq": "."})),
        (
            None,
            TaskType::Store,
            json!({"collection": "c", "document": "{{ steps.shpe.output }}"}),
        ),
    ]);
    assert_eq!(found.position, 1);
    assert_eq!(found.field, "input.document");
    assert_eq!(found.expression.as_deref(), Some("steps.shpe.output"));
    assert!(
        found.message.contains("did you mean `shape`?"),
        "{}",
        found.message
    );

    let found = one(&[
        (
            None,
            TaskType::Fetch,
            json!({"url": "https://x.test/{{ steps.later.output }}"}),
        ),
        (Some("later"), TaskType::Transform, json!({"jq": "."})),
    ]);
    assert_eq!((found.position, found.field.as_str()), (0, "input.url"));
    assert!(
        found.message.contains("runs after this one"),
        "{}",
        found.message
    );
}

#[test]
fn prev_in_the_first_task_and_unknown_names() {
    let found = one(&[(None, TaskType::Fetch, json!({"url": "{{ prev.url }}"}))]);
    assert!(found.message.contains("first task"), "{}", found.message);
    let found = one(&[(None, TaskType::Fetch, json!({"url": "{{ inptu.a }}"}))]);
    assert_eq!(found.expression.as_deref(), Some("inptu.a"));
    assert!(
        found.message.contains("did you mean `input`?"),
        "{}",
        found.message
    );
}

#[test]
fn syntax_errors_say_where() {
    let found = one(&[(
        None,
        TaskType::Fetch,
        json!({"url": "https://x.test/{{ input.a"}),
    )]);
    assert_eq!(
        found.expression.as_deref(),
        Some("https://x.test/{{ input.a")
    );
    assert!(found.message.contains("does not parse") && found.message.contains("line 1, column"));

    let found = one(&[(None, TaskType::Transform, json!({"jq": "{a: .input"}))]);
    assert_eq!(found.field, "input.jq");
    assert!(
        found
            .message
            .contains("the `{` at line 1, column 1 is never closed"),
        "{}",
        found.message
    );
    assert!(!found.message.contains("File {") && !found.message.contains("Lex("));

    let found = one(&[(
        None,
        TaskType::Transform,
        json!({"jq": ".input | mapp(.x)"}),
    )]);
    assert!(
        found
            .message
            .contains("no jq filter `mapp` taking 1 argument at line 1, column 10"),
        "{}",
        found.message
    );
}

#[test]
fn jq_paths_follow_the_same_rules() {
    let found = one(&[
        (Some("a"), TaskType::Transform, json!({"jq": "."})),
        (
            None,
            TaskType::Transform,
            json!({"jq": "[.steps.b.output, .prev]"}),
        ),
    ]);
    assert_eq!(found.expression.as_deref(), Some(".steps.b"));
    assert!(
        found
            .message
            .starts_with("in the jq program, no task before"),
        "{}",
        found.message
    );
    let found = one(&[(None, TaskType::Transform, json!({"jq": ".inptu.a"}))]);
    assert_eq!(found.expression.as_deref(), Some(".inptu"));
}

#[test]
fn an_llm_task_needs_a_model() {
    let tasks = [(None, TaskType::Llm, json!({"prompt": "hi"}))];
    assert_eq!(problems(&tasks, true), []);
    let found = problems(&tasks, false);
    assert_eq!(found[0].field, "type");
    assert!(
        found[0].message.contains("BATON_LLM_BASE_URL"),
        "{}",
        found[0].message
    );
}

#[test]
fn a_templated_jq_program_is_checked_as_a_template() {
    let tasks = [(
        None,
        TaskType::Transform,
        json!({"jq": ".input.{{ input.field }}"}),
    )];
    assert_eq!(problems(&tasks, true), []);
}

#[test]
fn templates_name_secrets_which_the_caller_looks_up() {
    let found = checked(
        &[(
            None,
            TaskType::Fetch,
            json!({"url": "http://x", "headers": {"Authorization": "Bearer {{ secrets.API_KEY }}",
                   "X-Other": "{{ secrets.OTHER_1 }}"}}),
        )],
        true,
    );
    assert!(found.problems.is_empty(), "{:#?}", found.problems);
    let mut names: Vec<(&str, &str)> = found
        .secrets
        .iter()
        .map(|u| (u.field.as_str(), u.name.as_str()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("input.headers.Authorization", "API_KEY"),
            ("input.headers.X-Other", "OTHER_1")
        ]
    );
    assert_eq!(found.secrets[0].expression, "secrets.API_KEY");
}

#[test]
fn secrets_are_named_one_by_one_and_only_in_templates() {
    for (template, says) in [
        ("{{ secrets }}", "name the secret"),
        ("{{ secrets.KEY.field }}", "has no `field`"),
    ] {
        let problem = one(&[(None, TaskType::Fetch, json!({"url": template}))]);
        assert!(
            problem.message.contains(says),
            "{template}: {}",
            problem.message
        );
    }
    let problem = one(&[(None, TaskType::Transform, json!({"jq": ".secrets.KEY"}))]);
    assert!(
        problem.message.contains("there is no `secrets`"),
        "{}",
        problem.message
    );
}

fn graph_problems(
    tasks: &[(&'static str, &'static [&'static str], Value, Option<&str>)],
) -> Vec<Problem> {
    let lists: Vec<Vec<String>> = tasks
        .iter()
        .map(|(_, deps, _, _)| deps.iter().map(|d| d.to_string()).collect())
        .collect();
    let steps: Vec<Step<'_>> = tasks
        .iter()
        .zip(&lists)
        .map(|((key, _, input, when), deps)| Step {
            id: TaskId::generate(),
            key: Some(key),
            task_type: TaskType::Fetch,
            input,
            depends_on: Some(deps.as_slice()),
            when: *when,
            for_each: None,
        })
        .collect();
    check(&steps, true).problems
}

#[test]
fn with_depends_on_a_task_sees_its_dependencies_only() {
    let url = |s: &str| json!({"url": s});
    let found = graph_problems(&[
        ("a", &[], url("http://x"), None),
        (
            "b",
            &["a"],
            url("{{ steps.a.output.body }}{{ prev.body }}"),
            None,
        ),
        ("c", &["a"], url("{{ steps.b.output.body }}"), None),
        (
            "d",
            &["b", "c"],
            url("{{ steps.a.output.x }}{{ steps.c.output.y }}"),
            None,
        ),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].position, 2);
    assert!(
        found[0].message.contains("add \"b\" to its depends_on"),
        "{}",
        found[0].message
    );

    let found = graph_problems(&[
        ("a", &[], url("http://x"), None),
        ("b", &[], url("http://x"), None),
        (
            "c",
            &["a", "b"],
            url("{{ prev.body }}"),
            Some("{{ steps.zz.output }}"),
        ),
    ]);
    let messages: Vec<(&str, &str)> = found
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        messages
            .iter()
            .any(|(f, m)| *f == "input.url" && m.contains("depends on 2"))
    );
    assert!(
        messages
            .iter()
            .any(|(f, m)| *f == "when" && m.contains("\"zz\""))
    );
}

#[test]
fn graph_problems_are_on_depends_on() {
    let found = graph_problems(&[
        ("a", &["b"], json!({"url": "http://x"}), None),
        ("b", &["a"], json!({"url": "http://x"}), None),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, "depends_on");
    assert!(found[0].message.contains("cycle"), "{}", found[0].message);
}

#[test]
fn a_workflow_task_checks_its_child_as_a_workflow_and_passes_no_secret() {
    let found = problems(
        &[(
            Some("sub"),
            TaskType::Workflow,
            json!({
                "name": "child of {{ workflow.name }}",
                "input": {"x": "{{ input.x }}", "key": "{{ secrets.API_KEY }}"},
                "tasks": [
                    {"key": "a", "type": "transform", "input": {"jq": ".input.x"}},
                    {"type": "fetch", "input": {"url": "{{ steps.zz.output }}"}}
                ]
            }),
        )],
        true,
    );
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(fields.contains(&"input.input.key"), "{fields:?}");
    assert!(fields.contains(&"input.tasks[1].input.url"), "{fields:?}");
    let secret = found.iter().find(|p| p.field == "input.input.key").unwrap();
    assert!(
        secret.message.contains("cannot pass a secret"),
        "{}",
        secret.message
    );
}
