//! The H.264 encoder and muxer of a push: an `ffmpeg` child process (libx264) fed raw YUV
//! frames on stdin at the push's frame rate, writing a live HLS playlist and, when the operator
//! configured one, an RTMP stream.
//!
//! ffmpeg rather than the openh264 crate: it brings the HLS muxer (segment rotation, atomic
//! playlist updates, discontinuities on restart), the FLV/RTMP muxer and x264's rate control in
//! one Debian package; with openh264 all three would be ours to write, its C++ build would
//! lengthen every clean build, and Cisco's patent licence covers only Cisco's binaries, not a
//! build from source. A board is mostly still, and x264 encodes still frames far faster than
//! its ~110 frames/s on moving 720p video.

use super::counters::PushCounters;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use whiteboard::render::Yuv420;

/// Seconds per HLS segment; keyframes come exactly this often so segments are exact.
const SEGMENT_SECS: u32 = 2;
/// Segments listed in the live playlist (older ones leave the public bucket): one minute of
/// rewind.
const PLAYLIST_SEGMENTS: u32 = 30;
/// A frame that cannot be written for this long means the encoder hangs.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long ffmpeg may take to flush and close its outputs after its input ends.
const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of ffmpeg's stderr kept to explain a failure.
const STDERR_LINES: usize = 8;

#[derive(Debug, Clone)]
pub struct EncoderSettings {
    pub ffmpeg: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// The work folder ffmpeg writes the HLS playlist and its segments into, from which
    /// [`super::stream::Stream`] publishes them.
    pub hls_dir: PathBuf,
    pub rtmp_url: Option<String>,
}

impl EncoderSettings {
    pub fn args(&self) -> Vec<OsString> {
        let gop = (self.fps * SEGMENT_SECS).max(1).to_string();
        let rate = format!("{}k", self.bitrate_kbps);
        let mut args: Vec<OsString> = [
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-video_size",
            &format!("{}x{}", self.width, self.height),
            "-framerate",
            &self.fps.to_string(),
            "-i",
            "pipe:0",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-color_range",
            "tv",
            "-colorspace",
            "bt470bg",
            "-b:v",
            &rate,
            "-maxrate",
            &rate,
            "-bufsize",
            &format!("{}k", self.bitrate_kbps * 2),
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        // No `delete_segments`: the publisher removes each segment once stored, and removes
        // it from the public bucket once it left the playlist.
        let hls_flags = "append_list+discont_start+temp_file+independent_segments";
        let playlist = self.hls_dir.join(super::PLAYLIST);
        match &self.rtmp_url {
            None => {
                let hls = [
                    "-f",
                    "hls",
                    "-hls_time",
                    &SEGMENT_SECS.to_string(),
                    "-hls_list_size",
                    &PLAYLIST_SEGMENTS.to_string(),
                    "-hls_flags",
                    hls_flags,
                ];
                args.extend(hls.iter().map(OsString::from));
                args.push(playlist.into_os_string());
            }
            Some(rtmp) => {
                // One encode, two muxers. FLV needs the stream headers up front.
                args.extend(["-flags", "+global_header", "-map", "0:v", "-f", "tee"].iter().map(OsString::from));
                let mut slaves = OsString::from(format!(
                    "[f=hls:hls_time={SEGMENT_SECS}:hls_list_size={PLAYLIST_SEGMENTS}:hls_flags={hls_flags}]"
                ));
                slaves.push(playlist.as_os_str());
                slaves.push(format!("|[f=flv:onfail=abort]{rtmp}"));
                args.push(slaves);
            }
        }
        args
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("the encoder could not start: {0}")]
    Spawn(std::io::Error),
    #[error("the encoder stopped ({status}): {stderr}")]
    Exited { status: String, stderr: String },
    #[error("the encoder accepted no frame for {0:?}")]
    Stalled(Duration),
}

/// Runs one encoder until `stop` fires (then ends its input, so the playlist is closed with
/// `#EXT-X-ENDLIST`) or it fails. `first_frame` is told when the first frame was taken.
pub async fn run(
    settings: &EncoderSettings,
    mut frames: watch::Receiver<Arc<Yuv420>>,
    stop: &CancellationToken,
    first_frame: oneshot::Sender<()>,
    counters: &PushCounters,
) -> Result<(), EncoderError> {
    let mut child = Command::new(&settings.ffmpeg)
        .args(settings.args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(EncoderError::Spawn)?;
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(pipe) = child.stderr.take() {
        tokio::spawn(keep_tail(BufReader::new(pipe), stderr.clone()));
    }
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let fed = feed(&mut stdin, &mut frames, settings.fps, stop, first_frame, counters).await;
    drop(stdin);
    if let Err(Feed::Stalled) = fed {
        let _ = child.kill().await;
        return Err(EncoderError::Stalled(WRITE_TIMEOUT));
    }
    // After a broken pipe too: ffmpeg died, and its status and stderr say why.
    let exited = tokio::time::timeout(FINISH_TIMEOUT, child.wait()).await.ok();
    let status = match exited {
        Some(Ok(status)) if status.success() && matches!(fed, Ok(())) => return Ok(()),
        Some(Ok(status)) => status.to_string(),
        Some(Err(e)) => e.to_string(),
        None => {
            let _ = child.kill().await;
            "did not finish in time".to_owned()
        }
    };
    let stderr = stderr
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(" | ");
    Err(EncoderError::Exited { status, stderr })
}

enum Feed {
    Broken,
    Stalled,
}

/// Writes the newest frame every `1/fps` seconds until `stop`. Frame `n` is due at
/// `start + n/fps`; a writer more than a frame late skips to the current one (counted as
/// dropped), so the stream's clock never drifts behind the room's.
async fn feed(
    stdin: &mut ChildStdin,
    frames: &mut watch::Receiver<Arc<Yuv420>>,
    fps: u32,
    stop: &CancellationToken,
    first_frame: oneshot::Sender<()>,
    counters: &PushCounters,
) -> Result<(), Feed> {
    let period = Duration::from_secs(1) / fps.max(1);
    let start = Instant::now();
    let mut first_frame = Some(first_frame);
    let mut n: u32 = 0;
    loop {
        let due = start + period * n;
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep_until(due) => {}
        }
        let frame = frames.borrow_and_update().clone();
        match tokio::time::timeout(WRITE_TIMEOUT, stdin.write_all(frame.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Feed::Broken),
            Err(_) => return Err(Feed::Stalled),
        }
        counters.frames.inc();
        if let Some(tell) = first_frame.take() {
            let _ = tell.send(());
        }
        let behind = Instant::now().saturating_duration_since(due);
        let skipped =
            if behind > period { u32::try_from(behind.as_nanos() / period.as_nanos()).unwrap_or(u32::MAX) } else { 0 };
        counters.dropped.inc_by(u64::from(skipped));
        n = n.saturating_add(1 + skipped);
    }
}

async fn keep_tail(pipe: BufReader<tokio::process::ChildStderr>, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = pipe.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(line, "ffmpeg");
        let mut tail = tail.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rtmp: Option<&str>) -> EncoderSettings {
        EncoderSettings {
            ffmpeg: "ffmpeg".into(),
            width: 1280,
            height: 720,
            fps: 15,
            bitrate_kbps: 1200,
            hls_dir: "/data/files/whiteboard-push/abc".into(),
            rtmp_url: rtmp.map(str::to_owned),
        }
    }

    fn joined(args: &[OsString]) -> String {
        args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn keyframes_fall_on_segment_boundaries() {
        let args = joined(&settings(None).args());
        assert!(args.contains("-g 30 -keyint_min 30"), "{args}");
        assert!(args.contains("-hls_time 2"), "{args}");
        assert!(args.contains("-b:v 1200k -maxrate 1200k -bufsize 2400k"), "{args}");
        assert!(args.ends_with("/data/files/whiteboard-push/abc/index.m3u8"), "{args}");
    }

    #[test]
    fn an_rtmp_target_adds_a_second_muxer_to_one_encode() {
        let args = joined(&settings(Some("rtmp://live.example/app/s1")).args());
        assert_eq!(args.matches("libx264").count(), 1);
        assert!(args.contains("-f tee"), "{args}");
        assert!(args.ends_with("/abc/index.m3u8|[f=flv:onfail=abort]rtmp://live.example/app/s1"), "{args}");
    }
}
