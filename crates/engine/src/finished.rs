//! A bounded in-memory cache of finished tasks: every statement that changes a task requires it
//! to be queued or running, so a task read once as succeeded, failed or cancelled answers every
//! later lookup without the database.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use crate::task::{Task, TaskId};

/// Finished tasks by id, at most `capacity` of them (at least one); when full, the task
/// remembered longest ago makes room. Unfinished tasks are never kept: they still change.
pub(crate) struct FinishedTasks {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    tasks: HashMap<TaskId, Arc<Task>>,
    /// Ids in the order they were remembered, the oldest first.
    order: VecDeque<TaskId>,
}

impl FinishedTasks {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: Mutex::default() }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, id: &TaskId) -> Option<Arc<Task>> {
        self.entries().tasks.get(id).cloned()
    }

    /// Forgets every task: after a reset their ids must be unknown again.
    pub(crate) fn clear(&self) {
        let mut entries = self.entries();
        entries.tasks.clear();
        entries.order.clear();
    }

    /// Keeps `task` if it is finished.
    pub(crate) fn remember(&self, task: &Arc<Task>) {
        if !task.state.is_finished() {
            return;
        }
        let mut entries = self.entries();
        if entries.tasks.contains_key(&task.id) {
            return;
        }
        if entries.tasks.len() >= self.capacity
            && let Some(oldest) = entries.order.pop_front()
        {
            entries.tasks.remove(&oldest);
        }
        entries.order.push_back(task.id.clone());
        entries.tasks.insert(task.id.clone(), Arc::clone(task));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::FinishedTasks;
    use crate::task::{Task, TaskId, TaskKind, TaskState};

    fn task(id: &str, state: TaskState) -> Arc<Task> {
        Arc::new(Task {
            id: TaskId::new(id),
            account: "1".into(),
            kind: TaskKind::from_static("test.kind"),
            state,
            input: json!({}),
            result: None,
            error: None,
            progress: None,
            created_at_ms: 0,
            started_at_ms: None,
            finished_at_ms: None,
            attempts: 1,
            max_attempts: 1,
            next_run_at_ms: 0,
            lease_owner: None,
            lease_no: 1,
            lease_expires_at_ms: None,
            heartbeat_at_ms: None,
            cancel_requested: false,
            directive: None,
        })
    }

    #[test]
    fn keeps_finished_tasks_only() {
        let cache = FinishedTasks::new(8);
        for (id, state) in [
            ("q", TaskState::Queued),
            ("r", TaskState::Running),
            ("s", TaskState::Succeeded),
            ("f", TaskState::Failed),
            ("c", TaskState::Cancelled),
        ] {
            cache.remember(&task(id, state));
        }
        let kept = |id: &str| cache.get(&TaskId::new(id)).map(|t| t.state);
        assert_eq!(kept("q"), None);
        assert_eq!(kept("r"), None);
        assert_eq!(kept("s"), Some(TaskState::Succeeded));
        assert_eq!(kept("f"), Some(TaskState::Failed));
        assert_eq!(kept("c"), Some(TaskState::Cancelled));
    }

    #[test]
    fn the_oldest_makes_room_when_full() {
        let cache = FinishedTasks::new(2);
        for id in ["a", "b", "a", "c"] {
            cache.remember(&task(id, TaskState::Succeeded));
        }
        let kept = |id: &str| cache.get(&TaskId::new(id)).is_some();
        assert!(!kept("a"), "remembered first, evicted by the third distinct task");
        assert!(kept("b"));
        assert!(kept("c"));
    }
}
