//! Typed task contracts: a kind's name with the serde types of its input, progress and output,
//! so a product's store and executor agree on them by construction instead of by `Value`.

use serde::{Deserialize as _, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    executor::{Outcome, ProgressError, TaskContext},
    task::{NewTask, Task, TaskId, TaskKind},
};

/// A task kind's contract: its kind name and the serde types of what goes in, what it
/// reports while running and what comes out. Products implement it once per kind in their
/// own `task.rs`, imported by both their store and their executor.
pub trait TaskSpec {
    const KIND: TaskKind;
    /// Stored as the task's `input` when it is submitted.
    type Input: Serialize + DeserializeOwned + Send;
    /// Stored as the task's `progress`, replaced by every report.
    type Progress: Serialize + DeserializeOwned + Send;
    /// Stored as the task's `result` when it succeeds.
    type Output: Serialize + DeserializeOwned + Send;
}

/// Refuses to read a task of another kind as `S`: its JSON might happen to fit.
fn expect_kind<S: TaskSpec>(task: &Task) -> Result<(), serde_json::Error> {
    if task.kind == S::KIND {
        return Ok(());
    }
    Err(serde::de::Error::custom(format_args!("task {} is of kind {}, not {}", task.id, task.kind, S::KIND)))
}

fn decode<T: DeserializeOwned>(value: Option<&Value>) -> Result<Option<T>, serde_json::Error> {
    value.map(T::deserialize).transpose()
}

impl NewTask {
    /// A task of kind `S::KIND` with `input` encoded as its JSON input.
    ///
    /// # Errors
    /// When `input` cannot be encoded as JSON (a map with non-string keys, a failing
    /// `Serialize` impl).
    pub fn of<S: TaskSpec>(
        id: impl Into<TaskId>,
        account: impl Into<String>,
        input: &S::Input,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self::new(id, account, S::KIND, serde_json::to_value(input)?))
    }
}

impl Task {
    /// The input as `S` submitted it.
    ///
    /// # Errors
    /// When the task is not of kind `S::KIND`, or its input does not decode as `S::Input`.
    pub fn input_of<S: TaskSpec>(&self) -> Result<S::Input, serde_json::Error> {
        expect_kind::<S>(self)?;
        S::Input::deserialize(&self.input)
    }

    /// The last progress reported, `None` before the first report.
    ///
    /// # Errors
    /// As [`Task::input_of`], for the progress.
    pub fn progress_of<S: TaskSpec>(&self) -> Result<Option<S::Progress>, serde_json::Error> {
        expect_kind::<S>(self)?;
        decode(self.progress.as_ref())
    }

    /// The output of a succeeded task, `None` while there is none.
    ///
    /// # Errors
    /// As [`Task::input_of`], for the result.
    pub fn output_of<S: TaskSpec>(&self) -> Result<Option<S::Output>, serde_json::Error> {
        expect_kind::<S>(self)?;
        decode(self.result.as_ref())
    }
}

impl TaskContext {
    /// The running task's input, see [`Task::input_of`].
    ///
    /// # Errors
    /// When the task is not of kind `S::KIND`, or its input does not decode as `S::Input`.
    pub fn input_of<S: TaskSpec>(&self) -> Result<S::Input, serde_json::Error> {
        self.task().input_of::<S>()
    }

    /// Records `progress` as the task's progress, fenced by the lease like
    /// [`TaskContext::progress`].
    ///
    /// # Errors
    /// [`ProgressError::Encode`] when `progress` cannot be encoded as JSON, otherwise as
    /// [`TaskContext::progress`].
    pub async fn report<S: TaskSpec>(&self, progress: &S::Progress) -> Result<(), ProgressError> {
        self.progress(serde_json::to_value(progress)?).await
    }
}

impl Outcome {
    /// A success whose result is `output` encoded as JSON.
    ///
    /// # Errors
    /// When `output` cannot be encoded as JSON.
    pub fn of<S: TaskSpec>(output: &S::Output) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::to_value(output)?))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::task::TaskState;

    struct Resize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Size {
        width: u32,
        height: u32,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Done {
        percent: u8,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Resized {
        url: String,
    }

    impl TaskSpec for Resize {
        const KIND: TaskKind = TaskKind::from_static("test.resize");
        type Input = Size;
        type Progress = Done;
        type Output = Resized;
    }

    struct Other;

    impl TaskSpec for Other {
        const KIND: TaskKind = TaskKind::from_static("test.other");
        type Input = Size;
        type Progress = Done;
        type Output = Resized;
    }

    fn stored(new: &NewTask) -> Task {
        Task {
            id: new.id.clone(),
            account: new.account.clone(),
            kind: new.kind.clone(),
            state: TaskState::Queued,
            input: new.input.clone(),
            result: None,
            error: None,
            progress: None,
            created_at_ms: 0,
            started_at_ms: None,
            finished_at_ms: None,
            attempts: 0,
            max_attempts: 1,
            next_run_at_ms: 0,
            lease_owner: None,
            lease_no: 0,
            lease_expires_at_ms: None,
            heartbeat_at_ms: None,
            cancel_requested: false,
            directive: None,
        }
    }

    #[test]
    fn a_typed_new_task_carries_the_kind_and_reads_back_its_input() {
        let input = Size { width: 640, height: 480 };
        let new = NewTask::of::<Resize>("t-1", "100001", &input).unwrap();
        assert_eq!(new.kind, Resize::KIND);
        assert_eq!(new.input, json!({ "width": 640, "height": 480 }));
        assert_eq!(stored(&new).input_of::<Resize>().unwrap(), input);
    }

    #[test]
    fn progress_reads_back_as_its_type_and_is_none_before_the_first_report() {
        let mut task = stored(&NewTask::of::<Resize>("t-1", "100001", &Size { width: 1, height: 1 }).unwrap());
        assert_eq!(task.progress_of::<Resize>().unwrap(), None);
        task.progress = Some(serde_json::to_value(Done { percent: 50 }).unwrap());
        assert_eq!(task.progress_of::<Resize>().unwrap(), Some(Done { percent: 50 }));
    }

    #[test]
    fn a_typed_outcome_reads_back_as_the_output() {
        let output = Resized { url: "https://example.com/a.png".into() };
        let outcome = Outcome::of::<Resize>(&output).unwrap();
        let mut task = stored(&NewTask::of::<Resize>("t-1", "100001", &Size { width: 1, height: 1 }).unwrap());
        assert_eq!(task.output_of::<Resize>().unwrap(), None);
        task.result = Some(outcome.result);
        assert_eq!(task.output_of::<Resize>().unwrap(), Some(output));
    }

    #[test]
    fn a_task_of_another_kind_is_not_read_even_when_its_json_fits() {
        let task = stored(&NewTask::of::<Other>("t-1", "100001", &Size { width: 1, height: 1 }).unwrap());
        let error = task.input_of::<Resize>().unwrap_err().to_string();
        assert!(error.contains("test.other") && error.contains("test.resize"), "{error}");
        assert!(task.progress_of::<Resize>().is_err());
        assert!(task.output_of::<Resize>().is_err());
    }

    #[test]
    fn input_that_does_not_fit_the_type_is_an_error() {
        let task = stored(&NewTask::new("t-1", "100001", Resize::KIND, json!({ "width": "wide" })));
        assert!(task.input_of::<Resize>().is_err());
    }
}
