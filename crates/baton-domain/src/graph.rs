//! The dependencies between a workflow's tasks. A task lists the keys of the tasks it needs
//! (`depends_on`); a workflow where no task lists any runs in order, each task needing the one
//! before. Tasks whose dependencies are all done may run at the same time.
//!
//! Decided here, from the tasks in position order: what each task waits for and releases, which
//! tasks run first, and which task's output is the workflow's (the last of those nothing
//! depends on). A store keeps each task's count of unfinished dependencies and decrements it as
//! they finish (see [`StepCommit::release`](crate::StepCommit::release)).

use std::collections::HashMap;

use crate::TaskId;

/// A task as the graph sees it.
#[derive(Debug, Clone, Copy)]
pub struct GraphTask<'a> {
    pub id: TaskId,
    pub key: Option<&'a str>,
    /// As the client wrote it; `None` when it lists nothing.
    pub depends_on: Option<&'a [String]>,
}

/// One problem of the graph, at a task's position (its field is `depends_on`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphProblem {
    pub position: usize,
    pub message: String,
}

/// The dependencies of a workflow's tasks, by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    ids: Vec<TaskId>,
    explicit: bool,
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
}

/// What a task waits for and releases, as a store keeps it from the start of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    pub task_id: TaskId,
    /// The tasks that need this one.
    pub dependents: Vec<TaskId>,
    /// How many of its dependencies are unfinished (all of them, at the start).
    pub waiting_on: i32,
}

impl Graph {
    /// The graph of `tasks` (in position order), or every problem of it: an unknown key, a
    /// task depending on itself or listing a key twice, a cycle.
    pub fn build(tasks: &[GraphTask<'_>]) -> Result<Self, Vec<GraphProblem>> {
        let explicit = tasks.iter().any(|t| t.depends_on.is_some());
        let by_key: HashMap<&str, usize> = tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.key.map(|k| (k, i)))
            .collect();
        let mut problems = Vec::new();
        let mut deps: Vec<Vec<usize>> = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.iter().enumerate() {
            let mut mine = Vec::new();
            if !explicit {
                if i > 0 {
                    mine.push(i - 1);
                }
            } else {
                for key in task.depends_on.unwrap_or_default() {
                    let problem = |message: String| GraphProblem {
                        position: i,
                        message,
                    };
                    match by_key.get(key.as_str()) {
                        None => problems.push(problem(format!(
                            "no task has the key \"{key}\" (a dependency names a task of the \
                             same workflow by its key)"
                        ))),
                        Some(&j) if j == i => problems.push(problem(format!(
                            "a task cannot depend on itself (\"{key}\")"
                        ))),
                        Some(&j) if mine.contains(&j) => {
                            problems.push(problem(format!("\"{key}\" is listed twice")));
                        }
                        Some(&j) => mine.push(j),
                    }
                }
            }
            deps.push(mine);
        }
        let mut dependents = vec![Vec::new(); tasks.len()];
        for (i, mine) in deps.iter().enumerate() {
            for &j in mine {
                dependents[j].push(i);
            }
        }
        let graph = Self {
            ids: tasks.iter().map(|t| t.id).collect(),
            explicit,
            deps,
            dependents,
        };
        if problems.is_empty()
            && let Some(cycle) = graph.cycle()
        {
            let name = |i: usize| tasks[i].key.unwrap_or_default().to_owned();
            let path: Vec<String> = cycle.iter().map(|&i| name(i)).collect();
            let first = cycle.iter().copied().min().unwrap_or_default();
            problems.push(GraphProblem {
                position: first,
                message: format!(
                    "these tasks depend on each other in a cycle, so none of them could ever \
                     run: {} → {}",
                    path.join(" → "),
                    path.first().cloned().unwrap_or_default()
                ),
            });
        }
        if problems.is_empty() {
            Ok(graph)
        } else {
            Err(problems)
        }
    }

    /// Whether the tasks list their dependencies (else each needs the one before).
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The positions of the tasks the task at `position` needs.
    pub fn deps(&self, position: usize) -> &[usize] {
        self.deps.get(position).map_or(&[], Vec::as_slice)
    }

    /// The positions of the tasks that need the task at `position`.
    pub fn dependents(&self, position: usize) -> &[usize] {
        self.dependents.get(position).map_or(&[], Vec::as_slice)
    }

    /// The tasks that need nothing: they run first.
    pub fn roots(&self) -> Vec<TaskId> {
        (0..self.len())
            .filter(|&i| self.deps[i].is_empty())
            .map(|i| self.ids[i])
            .collect()
    }

    /// The task whose output is the workflow's: the last (by position) of those nothing needs.
    pub fn output_task(&self) -> Option<TaskId> {
        (0..self.len())
            .rev()
            .find(|&i| self.dependents[i].is_empty())
            .map(|i| self.ids[i])
    }

    /// Whether the task at `ancestor` is done before the task at `position` starts: it is one
    /// of its dependencies, or theirs, and so on.
    pub fn is_ancestor(&self, ancestor: usize, position: usize) -> bool {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<usize> = self.deps(position).to_vec();
        while let Some(i) = stack.pop() {
            if i == ancestor {
                return true;
            }
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend_from_slice(self.deps(i));
            }
        }
        false
    }

    /// Each task's wiring, for the start of a run.
    pub fn wiring(&self) -> Vec<Wiring> {
        (0..self.len())
            .map(|i| Wiring {
                task_id: self.ids[i],
                dependents: self.dependents[i].iter().map(|&j| self.ids[j]).collect(),
                waiting_on: i32::try_from(self.deps[i].len()).unwrap_or(i32::MAX),
            })
            .collect()
    }

    /// One cycle, as positions in order, when there is one.
    fn cycle(&self) -> Option<Vec<usize>> {
        // Kahn's algorithm: what cannot be ordered is on a cycle or after one.
        let mut waiting: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..self.len()).filter(|&i| waiting[i] == 0).collect();
        let mut ordered = vec![false; self.len()];
        while let Some(i) = ready.pop() {
            ordered[i] = true;
            for &j in &self.dependents[i] {
                waiting[j] -= 1;
                if waiting[j] == 0 {
                    ready.push(j);
                }
            }
        }
        let start = (0..self.len()).find(|&i| !ordered[i])?;
        // Walk dependencies among the unordered until a task repeats: that loop is a cycle.
        let mut path = vec![start];
        let mut at = start;
        loop {
            let next = *self.deps[at].iter().find(|&&d| !ordered[d])?;
            if let Some(from) = path.iter().position(|&p| p == next) {
                let mut cycle = path[from..].to_vec();
                cycle.reverse();
                return Some(cycle);
            }
            path.push(next);
            at = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(tasks: &[(&'static str, Option<&[&str]>)]) -> Result<Graph, Vec<GraphProblem>> {
        let lists: Vec<Option<Vec<String>>> = tasks
            .iter()
            .map(|(_, d)| d.map(|d| d.iter().map(|s| s.to_string()).collect()))
            .collect();
        let ids: Vec<TaskId> = tasks.iter().map(|_| TaskId::generate()).collect();
        let graph: Vec<GraphTask<'_>> = tasks
            .iter()
            .zip(&lists)
            .zip(&ids)
            .map(|(((key, _), list), id)| GraphTask {
                id: *id,
                key: Some(key),
                depends_on: list.as_deref(),
            })
            .collect();
        Graph::build(&graph)
    }

    #[test]
    fn without_depends_on_each_task_needs_the_one_before() {
        let g = build(&[("a", None), ("b", None), ("c", None)]).unwrap();
        assert!(!g.is_explicit());
        assert_eq!(g.deps(2), [1]);
        assert_eq!(g.dependents(0), [1]);
        assert_eq!(g.roots().len(), 1);
        assert!(g.is_ancestor(0, 2) && !g.is_ancestor(2, 0));
        let wiring = g.wiring();
        assert_eq!(wiring[0].waiting_on, 0);
        assert_eq!(wiring[1].waiting_on, 1);
        assert_eq!(g.output_task(), Some(wiring[2].task_id));
    }

    #[test]
    fn a_diamond_releases_the_join_after_both_branches() {
        let g = build(&[
            ("a", Some(&[])),
            ("b", Some(&["a"])),
            ("c", Some(&["a"])),
            ("d", Some(&["b", "c"])),
        ])
        .unwrap();
        assert!(g.is_explicit());
        assert_eq!(g.dependents(0), [1, 2]);
        assert_eq!(g.wiring()[3].waiting_on, 2);
        assert_eq!(g.roots().len(), 1);
        assert!(g.is_ancestor(0, 3) && !g.is_ancestor(1, 2));
        assert_eq!(g.output_task(), Some(g.wiring()[3].task_id));
    }

    #[test]
    fn unknown_keys_self_references_and_cycles_are_named() {
        let problems = build(&[("a", Some(&["zz"])), ("b", Some(&["b"]))]).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].message.contains("\"zz\""), "{problems:?}");
        assert_eq!(problems[1].position, 1);
        assert!(problems[1].message.contains("itself"), "{problems:?}");
        let problems = build(&[
            ("a", Some(&["c"])),
            ("b", Some(&["a"])),
            ("c", Some(&["b"])),
            ("d", None),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 1);
        let message = &problems[0].message;
        assert!(message.contains("cycle"), "{message}");
        assert!(
            message.contains("a → b → c → a")
                || message.contains("c → a → b → c")
                || message.contains("b → c → a → b"),
            "{message}"
        );
    }
}
