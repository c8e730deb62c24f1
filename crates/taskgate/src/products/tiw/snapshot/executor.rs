//! The snapshot executor: replays the room's log up to the task's creation (from the newest
//! checkpoint before its first mark), renders one PNG
//! per mark (on every core), stores them in the public bucket or the customer's COS bucket,
//! and announces the result to the task's CallbackURL.

use super::{SNAPSHOT_EVENT, Snapshot, SnapshotInput, SnapshotResult, SnapshotView};
use crate::products::tiw::callback;
use crate::products::tiw::pictures::{PictureBudget, PictureLimits, fetch_pictures, picture_urls};
use crate::products::tiw::rooms::{RoomKey, Rooms};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use taskgate_engine::objects::{Destination, Objects};
use taskgate_engine::url_guard::GuardedClient;
use taskgate_engine::{Abandonment, Callback, ExecError, Executor, Forced, Outcome, Task, TaskContext};
use whiteboard::render::{RenderError, RenderOptions, Renderer, render_marks_parallel};
use whiteboard::replay::{SnapshotsError, snapshots_from};

pub struct SnapshotExecutor {
    pub rooms: Rooms,
    pub objects: Objects,
    /// Fetches the pictures of `image` operations and image backgrounds (same URL rules as
    /// callbacks).
    pub images: GuardedClient,
    /// Callback keys of the SdkAppIds that have one.
    pub callback_keys: HashMap<u64, String>,
    pub limits: SnapshotLimits,
}

/// The work one snapshot task may do (the `[tiw]` `snapshot_*` and `picture_*` keys).
#[derive(Debug, Clone, Copy)]
pub struct SnapshotLimits {
    /// Most marks rendered; more fail the task (CreateSnapshotTask refuses them up front).
    pub max_marks: u64,
    /// Wall time from the start of an execution after which the task ends failed.
    pub time_budget: Duration,
    pub pictures: PictureLimits,
}

/// Raises the flag the blocking replay and render threads watch when the execution ends by
/// any path (finished, over budget, cancelled, or its future dropped), so they stop too.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl SnapshotExecutor {
    fn destination(&self, task_id: &str, input: &SnapshotInput) -> Result<Destination, String> {
        let base = match &input.cos {
            Some(cos) => self.objects.cos_destination(cos),
            None => self.objects.public_bucket(super::SNAPSHOT_PREFIX),
        };
        base.and_then(|d| d.join(&super::task_dir(input.sdk_app_id, task_id))).map_err(|e| e.to_string())
    }

    /// Renders and stores the marks; `Err` is a failure worth retrying (storage, database).
    /// The CPU work runs on blocking threads that give up once `stop` is raised.
    async fn run(
        &self,
        task_id: &str,
        input: &SnapshotInput,
        stop: &Arc<AtomicBool>,
    ) -> Result<SnapshotResult, ExecError> {
        let room = match RoomKey::new(input.sdk_app_id, input.room_id) {
            Ok(room) => room,
            Err(e) => return Ok(SnapshotResult::failed(e.to_string())),
        };
        // Every mark up to the task's creation is rendered: resume before the first one.
        let from = self
            .rooms
            .resume_point(room, input.up_to_seq, true)
            .await
            .map_err(|e| ExecError::retryable(e.to_string()))?;
        let log = self
            .rooms
            .log(room, from.seq, Some(input.up_to_seq))
            .await
            .map_err(|e| ExecError::retryable(e.to_string()))?;
        let max_marks = usize::try_from(self.limits.max_marks).unwrap_or(usize::MAX);
        let (mode, replay_stop, board) = (input.mode, stop.clone(), from.board);
        let replayed = tokio::task::spawn_blocking(move || snapshots_from(board, &log, mode, max_marks, &replay_stop))
            .await
            .map_err(|e| ExecError::retryable(format!("replaying the room stopped: {e}")))?;
        let shots = match replayed {
            Ok(shots) => shots,
            Err(SnapshotsError::TooManyMarks { max }) => {
                return Ok(SnapshotResult::failed(format!(
                    "the room has more than {max} marks to render, the limit of one snapshot task"
                )));
            }
            Err(SnapshotsError::Stopped) => {
                return Err(ExecError::retryable("the snapshot was stopped"));
            }
        };
        if shots.is_empty() {
            return Ok(SnapshotResult::ok(Vec::new()));
        }
        // Before the expensive part: a bucket that became invalid fails the task at once.
        let destination = match self.destination(task_id, input) {
            Ok(d) => d,
            Err(e) => return Ok(SnapshotResult::failed(e)),
        };
        let options = match RenderOptions::from_init_params(&input.init_params) {
            Ok(options) => options,
            Err(e) => return Ok(SnapshotResult::failed(e.to_string())),
        };
        let renderer = match Renderer::new(input.width, input.height, options) {
            Ok(renderer) => renderer,
            Err(e) => return Ok(SnapshotResult::failed(e.to_string())),
        };
        let seqs: Vec<u64> = shots.iter().map(|s| s.seq).collect();
        let mut budget = PictureBudget::new(self.limits.pictures);
        let images =
            fetch_pictures(&self.images, shots.iter().flat_map(|shot| picture_urls(&shot.page)), &mut budget, task_id)
                .await;
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let render_stop = stop.clone();
        let pngs = tokio::task::spawn_blocking(move || {
            render_marks_parallel(&renderer, &shots, &images, threads, &render_stop)
        })
        .await
        .map_err(|e| ExecError::retryable(format!("rendering stopped: {e}")))?;
        let mut urls = Vec::with_capacity(pngs.len());
        for (seq, png) in seqs.into_iter().zip(pngs) {
            let png = match png {
                Ok(png) => png,
                Err(RenderError::Stopped) => {
                    return Err(ExecError::retryable("the snapshot was stopped"));
                }
                Err(e) => {
                    return Ok(SnapshotResult::failed(format!("rendering mark {seq} failed: {e}")));
                }
            };
            let stored = self
                .objects
                .put(&destination, &format!("{seq}.png"), Bytes::from(png))
                .await
                .map_err(|e| ExecError::retryable(format!("storing the snapshot of mark {seq} failed: {e}")))?;
            urls.push(stored.url);
        }
        Ok(SnapshotResult::ok(urls))
    }

    /// [`Self::run`] within the time budget, ended early by the task's cancellation (shutdown,
    /// lost lease): then the task goes back to the queue and runs again.
    async fn run_bounded(
        &self,
        ctx: &TaskContext,
        task_id: &str,
        input: &SnapshotInput,
    ) -> Result<SnapshotResult, ExecError> {
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = StopOnDrop(stop.clone());
        let budget = self.limits.time_budget;
        tokio::select! {
            result = self.run(task_id, input, &stop) => result,
            () = tokio::time::sleep(budget) => {
                tracing::warn!(task = task_id, budget_secs = budget.as_secs(), "a snapshot task ran out of time");
                Ok(SnapshotResult::failed(format!(
                    "the snapshot took longer than its time budget of {} seconds",
                    budget.as_secs()
                )))
            }
            () = ctx.cancel_token().cancelled() => Err(ExecError::retryable("the snapshot was interrupted; it runs again")),
        }
    }

    /// The finished event: DescribeSnapshotTask's answer for the task, as it will read once
    /// the engine records the end at `finished_at_ms`.
    fn callback(
        &self,
        task: &Task,
        input: &SnapshotInput,
        result: SnapshotResult,
        finished_at_ms: i64,
    ) -> Result<Option<Callback>, ExecError> {
        let Some(url) = input.callback_url.as_deref() else {
            return Ok(None);
        };
        let view = SnapshotView::finished(task, finished_at_ms, result);
        let data = serde_json::to_value(&view).map_err(|e| ExecError::permanent(e.to_string()))?;
        let key = self.callback_keys.get(&input.sdk_app_id).map(String::as_str);
        let body = callback::envelope(input.sdk_app_id, SNAPSHOT_EVENT, data, key, finished_at_ms.div_euclid(1000));
        // The task id is the event id: a receiver de-duplicates repeated deliveries by it.
        Ok(Some(Callback::new(url, body).with_event_id(task.id.as_str())))
    }
}

impl SnapshotExecutor {
    /// The task's end with `result`, at one time for the callback's FinishTime and the
    /// engine's record of the end.
    fn ended(&self, ctx: &TaskContext, input: &SnapshotInput, result: SnapshotResult) -> Result<Outcome, ExecError> {
        let finished_at_ms = ctx.clock().now_ms();
        let outcome = Outcome::of::<Snapshot>(&result)
            .map_err(|e| ExecError::permanent(e.to_string()))?
            .finished_at_ms(finished_at_ms);
        Ok(match self.callback(ctx.task(), input, result, finished_at_ms)? {
            Some(callback) => outcome.with_callback(callback),
            None => outcome,
        })
    }
}

#[async_trait]
impl Executor for SnapshotExecutor {
    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError> {
        let input =
            ctx.input_of::<Snapshot>().map_err(|e| ExecError::permanent(format!("unreadable snapshot input: {e}")))?;
        let task_id = ctx.id().as_str().to_owned();
        let result = match self.run_bounded(&ctx, &task_id, &input).await {
            Ok(result) => result,
            Err(error) if ctx.cancel_token().is_cancelled() => return Err(error),
            // A task never stays Running for ever: the last attempt reports the failure.
            // Retryable failures are the server's (database, storage): their text can name hosts
            // and paths, so it goes to the log and the tenant reads what to do.
            Err(error) if ctx.is_final_attempt() => {
                tracing::warn!(task = %task_id, error = %error.message, "snapshot failed on its last attempt");
                SnapshotResult::failed(
                    "The snapshot could not be stored or read because of a server problem; create the task again.",
                )
            }
            Err(error) => return Err(error),
        };
        self.ended(&ctx, &input, result)
    }

    /// A forced failure finishes like a real one: `Finished` with the forced code and message
    /// in `Result`, and its callback. A snapshot never succeeds without rendering.
    async fn forced(&self, ctx: TaskContext, forced: &Forced) -> Result<Outcome, ExecError> {
        let Forced::Failure { error_code, error_message } = forced else {
            return Err(ExecError::permanent("a snapshot cannot succeed without rendering its room"));
        };
        let input =
            ctx.input_of::<Snapshot>().map_err(|e| ExecError::permanent(format!("unreadable snapshot input: {e}")))?;
        let result = SnapshotResult {
            error_code: error_code.clone(),
            error_message: error_message.clone(),
            total: 0,
            snapshots: Vec::new(),
        };
        self.ended(&ctx, &input, result)
    }

    /// The snapshot ended without an execution's report: the callback says it failed.
    async fn abandoned(&self, task: &Task, why: Abandonment) -> Result<Option<Callback>, ExecError> {
        let Ok(input) = task.input_of::<Snapshot>() else {
            return Ok(None);
        };
        // The engine sets the end's time before asking (see `Executor::abandoned`).
        let finished_at_ms = task.finished_at_ms.unwrap_or(task.created_at_ms);
        self.callback(task, &input, SnapshotResult::failed(why.message().to_owned()), finished_at_ms)
    }
}
