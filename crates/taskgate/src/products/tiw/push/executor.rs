//! The push executor: logs the push user in, follows the room, runs the encoder (restarting it
//! after a failure), announces the start and the stop, and decides why the push ended.

use super::counters::PushCounters;
use super::encoder::{self, EncoderSettings};
use super::feed::{self, BoardFeed};
use super::stream::{self, Stream};
use super::{
    FinishReason, ImLogin, Push, PushInput, PushProgress, PushResult, PushStatus, STARTED_EVENT, STOPPED_EVENT,
    StartedEvent, StoppedEvent,
};
use crate::capabilities::Lack;
use crate::products::tiw::callback;
use crate::products::tiw::callback_settings::EventFamily;
use crate::products::tiw::pictures::PictureBudget;
use crate::products::tiw::rooms::{RoomKey, Rooms};
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;
use taskgate_engine::objects::Objects;
use taskgate_engine::url_guard::GuardedClient;
use taskgate_engine::{
    Abandonment, Callback, CancelReason, ExecError, Executor, Forced, Outbox, Outcome, Store, Task, TaskContext,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use whiteboard::render::{RenderOptions, Renderer};

/// A pipeline that ran this long before failing was healthy: the failures-in-a-row count
/// starts over.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// Wait before the first restart; doubles with each failure in a row, up to `RESTART_MAX`.
const RESTART_DELAY: Duration = Duration::from_millis(500);
const RESTART_MAX: Duration = Duration::from_secs(10);
/// How often the room's idleness is checked against AutoStopTimeout.
const IDLE_CHECK: Duration = Duration::from_millis(250);
/// How often the work folder is looked at for new segments: an eighth of a segment.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(250);

/// Operator settings of pushes (`[tiw]`).
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub ffmpeg: PathBuf,
    /// This node's work folders of pushes (`{work_dir}/{TaskId}`), where ffmpeg writes
    /// before the stream is published to the public bucket.
    pub work_dir: PathBuf,
    /// Also publish to this RTMP URL; `{stream_id}` is replaced by the push's stream id.
    pub rtmp_url: Option<String>,
    /// Encoder or output failures in a row after which a push stops with `EXCEPTION`.
    pub max_exceptions: u32,
    /// What the push's pictures may cost over its whole life.
    pub pictures: crate::products::tiw::pictures::PictureLimits,
    /// Why this server cannot encode (`ffmpeg` or libx264 missing), if it cannot.
    pub encoder_lack: Option<Lack>,
}

pub struct PushExecutor {
    pub store: Store,
    pub outbox: Outbox,
    pub rooms: Rooms,
    pub objects: Objects,
    /// Fetches the pictures the board shows (same URL rules as callbacks).
    pub pictures: GuardedClient,
    /// UserSig keys of the configured SdkAppIds, to check the push user's login.
    pub sdk_app_keys: HashMap<u64, String>,
    pub settings: PushSettings,
    pub counters: PushCounters,
}

/// Why one execution of a push ends.
enum Ending {
    Finished(FinishReason, Option<String>),
    /// This node is shutting down: the push goes back to the queue and is resumed.
    Release,
    /// Another node took the push over.
    LeaseLost,
}

impl PushExecutor {
    /// The push service "enters the room" as its user: the UserSig must be valid now.
    fn login(&self, login: &ImLogin, now_ms: i64) -> Result<(), String> {
        let key = self
            .sdk_app_keys
            .get(&login.sdk_app_id)
            .ok_or_else(|| format!("IM login failed: SdkAppId {} is not configured", login.sdk_app_id))?;
        tcapi::usersig::verify_usersig(key, login.sdk_app_id, &login.user_id, &login.user_sig, now_ms.div_euclid(1000))
            .map_err(|e| format!("IM login of {} failed: {e}", login.user_id))
    }

    /// An event to the application's push callback, if it has one, stamped `now_ms`.
    async fn event(
        &self,
        input: &PushInput,
        event_type: &str,
        data: impl serde::Serialize,
        event_id: String,
        now_ms: i64,
    ) -> Result<Option<Callback>, ExecError> {
        callback::event(&self.store, input.sdk_app_id, EventFamily::Push, event_type, data, event_id, now_ms).await
    }

    async fn save(&self, ctx: &TaskContext, progress: &PushProgress) -> Result<(), ExecError> {
        ctx.report::<Push>(progress)
            .await
            .map_err(|e| ExecError::retryable(format!("recording the push state failed: {e}")))
    }

    /// The first frame of this execution is out: the push is on the air. The start event is
    /// recorded before the state, so a crash in between repeats it (same event id) rather
    /// than losing it.
    async fn on_air(&self, ctx: &TaskContext, input: &PushInput, progress: &mut PushProgress) -> Result<(), ExecError> {
        if progress.push_start_time == 0 {
            let now = ctx.clock().now_ms();
            progress.push_start_time = now.div_euclid(1000);
            progress.im_sync_time = now;
            let data = StartedEvent {
                task_id: ctx.id().as_str(),
                room_id: input.room_id,
                push_user_id: &input.push_user_id,
                push_start_time: progress.push_start_time,
            };
            if let Some(event) = self.event(input, STARTED_EVENT, data, format!("{}-started", ctx.id()), now).await? {
                self.outbox
                    .enqueue(event, Some(ctx.id()))
                    .await
                    .map_err(|e| ExecError::retryable(format!("recording the start event failed: {e}")))?;
            }
        }
        progress.status = PushStatus::Pushing;
        self.save(ctx, progress).await
    }

    fn ending_of(reason: Option<CancelReason>) -> Ending {
        match reason {
            Some(CancelReason::Requested) => Ending::Finished(FinishReason::UserCall, None),
            Some(CancelReason::Shutdown) => Ending::Release,
            Some(CancelReason::LeaseLost) | None => Ending::LeaseLost,
        }
    }

    /// Runs encoders one after another until the push ends.
    async fn supervise(
        &self,
        ctx: &TaskContext,
        input: &PushInput,
        progress: &mut PushProgress,
        feed: &BoardFeed,
        settings: &EncoderSettings,
    ) -> Ending {
        if let Some(lack) = self.settings.encoder_lack {
            // A push accepted before this start (or by another node) and resumed here: restarts
            // cannot bring a missing encoder back, so it ends now saying why.
            return Ending::Finished(
                FinishReason::Exception,
                Some(format!("the push cannot be encoded on this server: {lack}")),
            );
        }
        let timeout_ms = i64::try_from(input.auto_stop_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut failures_in_a_row = 0u32;
        loop {
            let stop = CancellationToken::new();
            let (first_tx, mut first_rx) = oneshot::channel();
            let started = Instant::now();
            let run = encoder::run(settings, feed.frames.clone(), &stop, first_tx, &self.counters);
            tokio::pin!(run);
            let mut idle = tokio::time::interval(IDLE_CHECK);
            let mut ending = None;
            let mut on_air = false;
            let result = loop {
                tokio::select! {
                    result = &mut run => break result,
                    () = ctx.cancel_token().cancelled(), if ending.is_none() => {
                        ending = Some(Self::ending_of(ctx.cancel_reason()));
                        stop.cancel();
                    }
                    _ = idle.tick(), if ending.is_none() => {
                        let last = feed.last_operation_ms.load(Ordering::Relaxed).max(progress.claimed_at_ms);
                        if ctx.clock().now_ms().saturating_sub(last) >= timeout_ms {
                            ending = Some(Ending::Finished(FinishReason::Auto, None));
                            stop.cancel();
                        }
                    }
                    first = &mut first_rx, if !on_air => {
                        on_air = true;
                        if first.is_ok() && self.on_air(ctx, input, progress).await.is_err() {
                            ending = Some(Ending::LeaseLost);
                            stop.cancel();
                        }
                    }
                }
            };
            if let Some(ending) = ending {
                return ending;
            }
            let error = match result {
                Ok(()) => "the encoder ended its stream by itself".to_owned(),
                Err(e) => e.to_string(),
            };
            self.counters.exceptions.inc();
            progress.exception_cnt += 1;
            failures_in_a_row = if started.elapsed() >= HEALTHY_RUN { 1 } else { failures_in_a_row + 1 };
            tracing::warn!(task = %ctx.id(), error, failures_in_a_row, "push pipeline failed");
            if self.save(ctx, progress).await.is_err() {
                return Ending::LeaseLost;
            }
            if failures_in_a_row >= self.settings.max_exceptions {
                return Ending::Finished(FinishReason::Exception, Some(error));
            }
            let delay = RESTART_DELAY.saturating_mul(1 << (failures_in_a_row - 1).min(16)).min(RESTART_MAX);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = ctx.cancel_token().cancelled() => return Self::ending_of(ctx.cancel_reason()),
            }
        }
    }

    /// Copies what ffmpeg produced into the public bucket every [`PUBLISH_INTERVAL`] until
    /// `done`; a failure (storage unreachable) is retried on the next tick.
    async fn publish_until(stream: &mut Stream, task_id: &str, done: &CancellationToken) {
        let mut tick = tokio::time::interval(PUBLISH_INTERVAL);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = done.cancelled() => return,
            }
            match stream.publish().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(task_id, "publishing the push's stream works again");
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, task_id, "publishing the push's stream failed; retrying");
                }
                Err(_) => {}
            }
        }
    }
}

impl PushExecutor {
    /// The end of a push that stopped at `now` for `reason`, with its stop event.
    async fn stopped(
        &self,
        task_id: &str,
        input: &PushInput,
        progress: &PushProgress,
        reason: FinishReason,
        error: Option<String>,
        now: i64,
    ) -> Result<Outcome, ExecError> {
        let result = PushResult::stopped_at(now, reason, progress, error);
        let data = StoppedEvent::of(task_id, input, &result);
        let event = self.event(input, STOPPED_EVENT, data, format!("{task_id}-stopped"), now).await?;
        let outcome =
            Outcome::of::<Push>(&result).map_err(|e| ExecError::permanent(e.to_string()))?.finished_at_ms(now);
        Ok(match event {
            Some(event) => outcome.with_callback(event),
            None => outcome,
        })
    }

    /// The failure of a push that stops with `EXCEPTION` at `now` before its stream started,
    /// carrying its stop event.
    async fn stopped_by_exception(
        &self,
        task_id: &str,
        input: &PushInput,
        progress: &PushProgress,
        message: String,
        now: i64,
    ) -> Result<ExecError, ExecError> {
        let result = PushResult::stopped_at(now, FinishReason::Exception, progress, Some(message.clone()));
        let data = StoppedEvent::of(task_id, input, &result);
        let error = ExecError::permanent(message).finished_at_ms(now);
        Ok(match self.event(input, STOPPED_EVENT, data, format!("{task_id}-stopped"), now).await? {
            Some(event) => error.with_callback(event),
            None => error,
        })
    }
}

#[async_trait]
impl Executor for PushExecutor {
    /// The push ended without an execution's report (stopped while queued, or its node died
    /// after the stop request or on its final attempt): the stop event, and the stream closed.
    async fn abandoned(&self, task: &Task, why: Abandonment) -> Result<Option<Callback>, ExecError> {
        let Ok(input) = task.input_of::<Push>() else {
            return Ok(None);
        };
        let progress = PushProgress::of(task);
        // The stop time Describe will show: the task's end, set before the engine asks.
        let at = task.finished_at_ms.unwrap_or(task.created_at_ms);
        let result = match why {
            Abandonment::Cancelled => PushResult::stopped_at(at, FinishReason::UserCall, &progress, None),
            Abandonment::WorkerLost => {
                PushResult::stopped_at(at, FinishReason::Exception, &progress, Some(why.message().to_owned()))
            }
        };
        let task_id = task.id.as_str();
        if let Err(error) = stream::close(&self.objects, task_id).await {
            tracing::warn!(%error, task_id, "closing the push's playlist failed");
        }
        self.event(&input, STOPPED_EVENT, StoppedEvent::of(task_id, &input, &result), format!("{task_id}-stopped"), at)
            .await
    }

    /// A forced failure is a push that died on the air: its start event, then `STOPPED` with
    /// `EXCEPTION`, the message and its stop event, as when its encoder fails for good. A push
    /// never succeeds without encoding.
    async fn forced(&self, ctx: TaskContext, forced: &Forced) -> Result<Outcome, ExecError> {
        let Forced::Failure { error_message, .. } = forced else {
            return Err(ExecError::permanent("a push cannot succeed without encoding its room"));
        };
        let input = ctx.input_of::<Push>().map_err(|e| ExecError::permanent(format!("unreadable push input: {e}")))?;
        let mut progress = PushProgress::of(ctx.task());
        if progress.claimed_at_ms == 0 {
            progress.claimed_at_ms = ctx.clock().now_ms();
        }
        self.on_air(&ctx, &input, &mut progress).await?;
        let now = ctx.clock().now_ms();
        self.stopped(ctx.id().as_str(), &input, &progress, FinishReason::Exception, Some(error_message.clone()), now)
            .await
    }

    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError> {
        let input = ctx.input_of::<Push>().map_err(|e| ExecError::permanent(format!("unreadable push input: {e}")))?;
        let task_id = ctx.id().as_str().to_owned();
        let mut progress = PushProgress::of(ctx.task());
        if progress.claimed_at_ms == 0 {
            let now = ctx.clock().now_ms();
            progress.claimed_at_ms = now;
            if let Err(message) = self.login(&input.im_login, now) {
                progress.failure = Some(message.clone());
                self.save(&ctx, &progress).await?;
                return Err(self.stopped_by_exception(&task_id, &input, &progress, message, now).await?);
            }
        } else {
            // Resumed after the node running it died or stopped: the stream was interrupted.
            progress.exception_cnt += 1;
            self.counters.exceptions.inc();
        }
        if progress.push_start_time == 0 {
            progress.status = PushStatus::Prepared;
        }
        self.save(&ctx, &progress).await?;
        let options =
            RenderOptions::from_init_params(&input.init_param).map_err(|e| ExecError::permanent(e.to_string()))?;
        let renderer =
            Renderer::new(input.width, input.height, options).map_err(|e| ExecError::permanent(e.to_string()))?;
        let room = RoomKey::new(input.sdk_app_id, input.room_id).map_err(|e| ExecError::permanent(e.to_string()))?;
        let budget = PictureBudget::new(self.settings.pictures);
        let feed = feed::start(self.rooms.clone(), self.pictures.clone(), budget, &task_id, room, renderer)
            .await
            .map_err(|e| ExecError::retryable(format!("following the room failed: {e}")))?;
        let mut stream = Stream::open(&self.objects, &task_id, &self.settings.work_dir)
            .await
            .map_err(|e| ExecError::retryable(format!("preparing the push's stream failed: {e}")))?;
        let settings = EncoderSettings {
            ffmpeg: self.settings.ffmpeg.clone(),
            width: input.width,
            height: input.height,
            fps: input.fps,
            bitrate_kbps: input.bitrate_kbps,
            hls_dir: stream.work_dir().to_owned(),
            rtmp_url: self.settings.rtmp_url.as_ref().map(|url| url.replace("{stream_id}", &input.stream_id)),
        };
        let published = CancellationToken::new();
        let (ending, ()) = tokio::join!(
            async {
                let ending = self.supervise(&ctx, &input, &mut progress, &feed, &settings).await;
                published.cancel();
                ending
            },
            Self::publish_until(&mut stream, &task_id, &published),
        );
        drop(feed);
        if !matches!(ending, Ending::LeaseLost) {
            // The last segments and ffmpeg's closing playlist; after a lost lease the stream
            // is the new owner's to write.
            let closed = match stream.publish().await {
                Ok(()) => stream::close(&self.objects, &task_id).await,
                Err(e) => Err(e),
            };
            if let Err(error) = closed {
                tracing::warn!(%error, task_id, "storing the end of the push's stream failed");
            }
        }
        stream.discard_work().await;
        let (finish_reason, error) = match ending {
            Ending::Finished(reason, error) => (reason, error),
            Ending::Release => {
                return Err(ExecError::retryable("this node is shutting down; the push resumes elsewhere"));
            }
            Ending::LeaseLost => {
                return Err(ExecError::retryable("another node took the push over"));
            }
        };
        let now = ctx.clock().now_ms();
        self.stopped(&task_id, &input, &progress, finish_reason, error, now).await
    }
}
