//! Edits of a workflow while it is pending: renaming it, changing its input, deleting it, and
//! adding, changing, moving or removing tasks. Decided on the workflow as read (status, limits,
//! positions, keys, versions) as an [`Edit`]; a store applies one only while the workflow still
//! has the version it was decided from.

use crate::{
    DomainError, MAX_TASKS_PER_WORKFLOW, NewTask, Task, TaskId, TaskPatch, Workflow, WorkflowId,
    WorkflowPatch, WorkflowStatus,
};

/// A decided edit. The store applies nothing (answering `StoreError::Stale`) when the
/// workflow's version is no longer `version`; applying it bumps the workflow's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub workflow_id: WorkflowId,
    pub version: i32,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// New name and/or input.
    Workflow(WorkflowPatch),
    /// The workflow goes, with its tasks.
    Delete,
    /// `task` goes in at `position`; the tasks from there on move one down.
    AddTask { task: NewTask, position: i32 },
    /// The task's editable fields become `task`'s; it moves from `from` to `to`, the tasks in
    /// between moving one place to close the gap.
    UpdateTask { task: Box<Task>, from: i32, to: i32 },
    /// The task at `position` goes; the tasks after it move one up.
    DeleteTask { task_id: TaskId, position: i32 },
}

impl Workflow {
    fn edit(&self, change: Change) -> Edit {
        Edit {
            workflow_id: self.id,
            version: self.version,
            change,
        }
    }

    fn require_pending(&self, what: &str) -> Result<(), DomainError> {
        if self.status == WorkflowStatus::Pending {
            Ok(())
        } else {
            Err(DomainError::conflict(format!(
                "the workflow is {}; {what} while it is pending",
                self.status
            )))
        }
    }

    fn task(&self, id: TaskId) -> Result<&Task, DomainError> {
        self.tasks
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| DomainError::invalid("id", "is not a task of this workflow"))
    }

    fn check_key_free(&self, key: Option<&str>, except: Option<TaskId>) -> Result<(), DomainError> {
        let taken = key.is_some_and(|key| {
            self.tasks
                .iter()
                .any(|t| Some(t.id) != except && t.key.as_deref() == Some(key))
        });
        if taken {
            Err(DomainError::invalid(
                "key",
                "is already used by another task of this workflow",
            ))
        } else {
            Ok(())
        }
    }

    fn task_count(&self) -> i32 {
        i32::try_from(self.tasks.len()).unwrap_or(i32::MAX)
    }

    /// Renames it or changes its input; `expected` is the caller's version, if any.
    pub fn patch(&self, patch: WorkflowPatch, expected: Option<i32>) -> Result<Edit, DomainError> {
        DomainError::check_version(expected, self.version)?;
        if patch.budget_only() {
            if self.status.is_terminal() {
                return Err(DomainError::conflict(format!(
                    "the workflow is {}; a finished workflow's budget cannot change",
                    self.status
                )));
            }
        } else {
            self.require_pending("it can only be edited")?;
        }
        Ok(self.edit(Change::Workflow(patch)))
    }

    /// Deletes it with its tasks. `Conflict` while it is running.
    pub fn delete(&self, expected: Option<i32>) -> Result<Edit, DomainError> {
        DomainError::check_version(expected, self.version)?;
        if matches!(
            self.status,
            WorkflowStatus::Running | WorkflowStatus::Paused
        ) {
            return Err(DomainError::conflict(
                "the workflow is running; cancel it before deleting it",
            ));
        }
        Ok(self.edit(Change::Delete))
    }

    /// Adds `task` at `position` (0-based; the end when `None`).
    pub fn add_task(&self, task: NewTask, position: Option<i32>) -> Result<Edit, DomainError> {
        self.require_pending("its tasks can only be changed")?;
        let count = self.task_count();
        if self.tasks.len() >= MAX_TASKS_PER_WORKFLOW {
            return Err(DomainError::invalid(
                "workflow_id",
                format!(
                    "the workflow already has {MAX_TASKS_PER_WORKFLOW} tasks, the most allowed"
                ),
            ));
        }
        let position = position.unwrap_or(count);
        check_position(position, count)?;
        self.check_key_free(task.key().map(|k| k.as_str()), None)?;
        Ok(self.edit(Change::AddTask { task, position }))
    }

    /// Changes one of its tasks (moving it when the patch has a position); `expected` is the
    /// caller's version of the task.
    pub fn update_task(
        &self,
        task_id: TaskId,
        patch: &TaskPatch,
        expected: Option<i32>,
    ) -> Result<Edit, DomainError> {
        let task = self.task(task_id)?;
        DomainError::check_version(expected, task.version)?;
        self.require_pending("its tasks can only be changed")?;
        let mut changed = task.clone();
        changed.apply(patch)?;
        let from = task.position;
        let to = patch.position.unwrap_or(from);
        if to != from {
            check_position(to, self.task_count() - 1)?;
        }
        self.check_key_free(changed.key.as_deref(), Some(task_id))?;
        Ok(self.edit(Change::UpdateTask {
            task: Box::new(changed),
            from,
            to,
        }))
    }

    /// Removes one of its tasks.
    pub fn delete_task(&self, task_id: TaskId, expected: Option<i32>) -> Result<Edit, DomainError> {
        let task = self.task(task_id)?;
        DomainError::check_version(expected, task.version)?;
        self.require_pending("its tasks can only be changed")?;
        Ok(self.edit(Change::DeleteTask {
            task_id,
            position: task.position,
        }))
    }
}

fn check_position(position: i32, max: i32) -> Result<(), DomainError> {
    if (0..=max).contains(&position) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "position",
            format!("must be between 0 and {max}"),
        ))
    }
}
