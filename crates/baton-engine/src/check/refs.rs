//! What a task may refer to, known before it runs: `input` (anything: the input is data),
//! `prev` (the output of the task it needs, when it needs exactly one), `steps.<key>`
//! (`.output`, `.status`) of a task certainly done before it starts, and `workflow` (`.id`,
//! `.name`). In a workflow without `depends_on` that is every task before it; with, the tasks
//! it depends on, directly or through others.

use std::collections::HashMap;

use baton_domain::Graph;

use super::Step;

/// What the task at one position can see.
pub(super) struct Scope<'a> {
    position: usize,
    own_key: Option<&'a str>,
    /// Keys of the tasks done before it starts, in order.
    earlier: Vec<&'a str>,
    /// Keys of the other tasks, with their positions.
    later: HashMap<&'a str, usize>,
    /// How many tasks it depends on, when they are listed (`None`: the one before it).
    listed_deps: Option<usize>,
    /// Whether `item` and `index` exist (the input of a task with `for_each`).
    per_element: bool,
}

/// The names at the root of what templates and jq programs see.
pub(super) const ROOTS: [&str; 4] = ["input", "prev", "steps", "workflow"];
const STEP_FIELDS: [&str; 2] = ["output", "status"];
const WORKFLOW_FIELDS: [&str; 2] = ["id", "name"];

impl<'a> Scope<'a> {
    /// The scope of the task at `position`; `graph` when the workflow lists dependencies (and
    /// they make a graph), else tasks see those before them.
    pub(super) fn new(steps: &[Step<'a>], position: usize, graph: Option<&Graph>) -> Self {
        let sees = |i: usize| match graph {
            Some(graph) => graph.is_ancestor(i, position),
            None => i < position,
        };
        let earlier = (0..steps.len())
            .filter(|&i| sees(i))
            .filter_map(|i| steps[i].key)
            .collect();
        let later = (0..steps.len())
            .filter(|&i| i != position && !sees(i))
            .filter_map(|i| steps[i].key.map(|k| (k, i)))
            .collect();
        Self {
            position,
            own_key: steps.get(position).and_then(|s| s.key),
            earlier,
            later,
            listed_deps: graph.map(|g| g.deps(position).len()),
            per_element: false,
        }
    }

    /// The same scope where `item` and `index` are the element's (a fanned-out task's input).
    pub(super) fn per_element(mut self) -> Self {
        self.per_element = true;
        self
    }

    /// Checks a reference given as its names from the root (`["steps", "fetch", "output"]`).
    /// A problem is `(how many names it takes to show it, what is wrong)`.
    pub(super) fn check(&self, names: &[&str]) -> Result<(), (usize, String)> {
        let Some(root) = names.first() else {
            return Ok(());
        };
        match *root {
            "input" => Ok(()),
            "item" | "index" if self.per_element => Ok(()),
            "item" | "index" => Err((
                1,
                format!(
                    "`{root}` is the element a fanned-out task runs for: only the input of a \
                     task with `for_each` has one"
                ),
            )),
            "prev" if self.listed_deps.is_some_and(|n| n != 1) => Err((
                1,
                format!(
                    "`prev` is the output of the one task this task depends on, and it depends \
                     on {}: name the task with `steps.<key>.output`",
                    match self.listed_deps {
                        Some(0) => "none".to_owned(),
                        Some(n) => n.to_string(),
                        None => String::new(),
                    }
                ),
            )),
            "prev" if self.listed_deps.is_some() => Ok(()),
            "prev" if self.position == 0 => Err((
                1,
                "`prev` is the output of the previous task, and this is the first task: there \
                 is none (use `input` for the workflow's input)"
                    .to_owned(),
            )),
            "prev" => Ok(()),
            "steps" => match names.get(1) {
                None => Ok(()),
                Some(key) => self.check_step(key, names.get(2).copied()),
            },
            "workflow" => match names.get(1) {
                Some(field) if !WORKFLOW_FIELDS.contains(field) => Err((
                    2,
                    format!(
                        "`workflow` has only id and name{}",
                        suggest(field, &WORKFLOW_FIELDS)
                    ),
                )),
                _ => Ok(()),
            },
            other => Err((
                1,
                format!(
                    "there is no `{other}`: the names a task can use are input, prev, steps and \
                     workflow{}",
                    suggest(other, &ROOTS)
                ),
            )),
        }
    }

    fn check_step(&self, key: &str, field: Option<&str>) -> Result<(), (usize, String)> {
        if self.earlier.contains(&key) {
            return match field {
                Some(field) if !STEP_FIELDS.contains(&field) => Err((
                    3,
                    format!(
                        "`steps.{key}` has only output and status{}",
                        suggest(field, &STEP_FIELDS)
                    ),
                )),
                _ => Ok(()),
            };
        }
        let why = if self.own_key == Some(key) {
            format!(
                "`steps.{key}` is this task itself: a task sees only the results of the tasks \
                 before it"
            )
        } else if let Some(position) = self.later.get(key) {
            match self.listed_deps {
                Some(_) => format!(
                    "`steps.{key}` (tasks[{position}]) is not among the tasks this one depends \
                     on, directly or through others, so it may not have run yet: add \"{key}\" \
                     to its depends_on"
                ),
                None => format!(
                    "`steps.{key}` is the task at position {position} (tasks[{position}]), which \
                     runs after this one: a task sees only the results of the tasks before it"
                ),
            }
        } else {
            let known = match self.earlier.as_slice() {
                [] if self.position == 0 => " (this is the first task)".to_owned(),
                [] => " (the tasks before it have no key)".to_owned(),
                keys => format!(" (keys of the tasks before it: {})", keys.join(", ")),
            };
            format!(
                "no task before this one has the key \"{key}\"{}{known}",
                suggest(key, &self.earlier)
            )
        };
        Err((2, why))
    }
}

/// `; did you mean `input`?` when one of `known` is a likely typo of `name`.
fn suggest(name: &str, known: &[&str]) -> String {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (distance(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

/// Edit distance (insertions, deletions, substitutions, adjacent swaps).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use baton_domain::{TaskId, TaskType};
    use serde_json::{Value, json};

    use super::*;

    fn scope(
        keys: &[Option<&'static str>],
        position: usize,
        input: &'static Value,
    ) -> Scope<'static> {
        let steps: Vec<Step<'static>> = keys
            .iter()
            .map(|key| Step {
                id: TaskId::generate(),
                key: *key,
                task_type: TaskType::Transform,
                input,
                depends_on: None,
                when: None,
                for_each: None,
            })
            .collect();
        Scope::new(&steps, position, None)
    }

    #[test]
    fn references_follow_the_order_of_the_tasks() {
        let input: &'static Value = Box::leak(Box::new(json!({})));
        let keys = [Some("fetch"), Some("shape"), None, Some("save")];
        let at = scope(&keys, 2, input);
        assert!(at.check(&["steps", "shape", "output", "x"]).is_ok());
        assert!(at.check(&["prev", "body"]).is_ok());
        assert!(at.check(&["input", "anything"]).is_ok());
        assert!(at.check(&["workflow", "name"]).is_ok());
        let (n, why) = at.check(&["steps", "shpe", "output"]).unwrap_err();
        assert_eq!(n, 2);
        assert!(
            why.contains("did you mean `shape`?") && why.contains("fetch, shape"),
            "{why}"
        );
        let (_, why) = at.check(&["steps", "save"]).unwrap_err();
        assert!(
            why.contains("position 3") && why.contains("runs after"),
            "{why}"
        );
        let (n, why) = at.check(&["steps", "fetch", "outptu"]).unwrap_err();
        assert_eq!(n, 3);
        assert!(why.contains("did you mean `output`?"), "{why}");
        let (n, why) = at.check(&["inptu", "a"]).unwrap_err();
        assert_eq!(n, 1);
        assert!(why.contains("did you mean `input`?"), "{why}");
        assert!(at.check(&["workflow", "nme"]).is_err());
    }

    #[test]
    fn the_first_task_has_no_prev_and_a_task_cannot_see_itself() {
        let input: &'static Value = Box::leak(Box::new(json!({})));
        let first = scope(&[Some("a"), Some("b")], 0, input);
        assert!(first.check(&["prev"]).unwrap_err().1.contains("first task"));
        let (_, why) = first.check(&["steps", "a"]).unwrap_err();
        assert!(why.contains("this task itself"), "{why}");
    }

    #[test]
    fn distances() {
        assert_eq!(distance("input", "inptu"), 1);
        assert_eq!(distance("shape", "shpe"), 1);
        assert_eq!(distance("abc", "xyz"), 3);
        assert_eq!(suggest("zzzzz", &ROOTS), "");
    }
}
