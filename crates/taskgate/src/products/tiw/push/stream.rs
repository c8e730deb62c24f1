//! A push's HLS stream in the public bucket. ffmpeg writes the playlist and its segments into a
//! work folder of this node; [`Stream::publish`] copies each finished segment into the public
//! bucket, then the playlist naming it (replaced whole: an S3 PUT is atomic per object, the
//! local bucket writes a temporary file and renames it), so a reader never sees a playlist
//! naming a missing segment. Because the stored playlist is the stream's only home, a push
//! resumed by any node (or by this one after `kill -9`) seeds its work folder with it and
//! ffmpeg (`append_list`) continues it: the same URL, the earlier segments, then
//! `#EXT-X-DISCONTINUITY` and new segments whose media sequence numbers and names go on from
//! the stored ones.

use super::{HLS_PREFIX, PLAYLIST};
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use taskgate_engine::objects::{Destination, Objects, ObjectsError};

/// Segments that left the playlist stay in the bucket this many playlist versions longer, for
/// players that read the previous version (ffmpeg's `hls_delete_threshold` does the same).
const DEPARTED_KEPT: usize = 2;
const END_LIST: &str = "#EXT-X-ENDLIST";

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("object storage: {0}")]
    Objects(#[from] ObjectsError),
    #[error("the work folder: {0}")]
    Io(#[from] std::io::Error),
}

/// The stream of one push: its work folder and what of it the public bucket holds.
pub struct Stream {
    objects: Objects,
    dest: Destination,
    work_dir: PathBuf,
    /// The playlist text last stored.
    stored: String,
    /// Segments stored and still named by the stored playlist.
    listed: HashSet<String>,
    /// Stored segments the playlist no longer names, oldest first; deleted after
    /// [`DEPARTED_KEPT`] more.
    departed: VecDeque<String>,
}

/// The public bucket's folder of a push's stream: `whiteboard-push/{task_id}`.
pub fn destination(objects: &Objects, task_id: &str) -> Result<Destination, ObjectsError> {
    objects.public_bucket(HLS_PREFIX)?.join(task_id)
}

impl Stream {
    /// Prepares `work_root/{task_id}` for ffmpeg: emptied of anything an earlier execution
    /// left, then holding the stored playlist if the push streamed before.
    pub async fn open(objects: &Objects, task_id: &str, work_root: &Path) -> Result<Self, StreamError> {
        let dest = destination(objects, task_id)?;
        let work_dir = work_root.join(task_id);
        match tokio::fs::remove_dir_all(&work_dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        tokio::fs::create_dir_all(&work_dir).await?;
        let stored = match objects.read(&dest, PLAYLIST).await? {
            Some(text) => String::from_utf8_lossy(&text).into_owned(),
            None => String::new(),
        };
        if !stored.is_empty() {
            tokio::fs::write(work_dir.join(PLAYLIST), &stored).await?;
        }
        let listed = segments(&stored).map(str::to_owned).collect();
        Ok(Self { objects: objects.clone(), dest, work_dir, stored, listed, departed: VecDeque::new() })
    }

    /// The folder ffmpeg writes into.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Stores the segments the work folder's playlist names that are not stored yet, then
    /// that playlist, then deletes segments that left it long enough ago. A segment file is
    /// removed from the work folder once stored: ffmpeg needs only the playlist to go on.
    pub async fn publish(&mut self) -> Result<(), StreamError> {
        let text = match tokio::fs::read_to_string(self.work_dir.join(PLAYLIST)).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if text == self.stored {
            return Ok(());
        }
        let named: Vec<&str> = segments(&text).collect();
        for name in &named {
            if self.listed.contains(*name) {
                continue;
            }
            let file = self.work_dir.join(name);
            let bytes = tokio::fs::read(&file).await?;
            self.objects.put(&self.dest, name, Bytes::from(bytes)).await?;
            tokio::fs::remove_file(&file).await?;
            self.listed.insert((*name).to_owned());
        }
        self.objects.put(&self.dest, PLAYLIST, Bytes::from(text.clone())).await?;
        let now_named: HashSet<&str> = named.iter().copied().collect();
        let mut gone: Vec<String> = self.listed.iter().filter(|s| !now_named.contains(s.as_str())).cloned().collect();
        gone.sort_by_key(|name| sequence_of(name));
        for name in gone {
            self.listed.remove(&name);
            self.departed.push_back(name);
        }
        self.stored = text;
        while self.departed.len() > DEPARTED_KEPT {
            let Some(name) = self.departed.front() else { break };
            self.objects.remove(&self.dest, name).await?;
            self.departed.pop_front();
        }
        Ok(())
    }

    /// Removes the work folder; the stream lives on in the public bucket.
    pub async fn discard_work(&self) {
        if let Err(error) = tokio::fs::remove_dir_all(&self.work_dir).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, dir = %self.work_dir.display(), "removing a push's work folder failed");
        }
    }
}

/// Ends the stored playlist of a push with `#EXT-X-ENDLIST` unless it has it, so players stop
/// waiting for segments of a push that will not go on (an encoder that failed for good, a
/// push abandoned with its node).
pub async fn close(objects: &Objects, task_id: &str) -> Result<(), StreamError> {
    let dest = destination(objects, task_id)?;
    let Some(text) = objects.read(&dest, PLAYLIST).await? else { return Ok(()) };
    let text = String::from_utf8_lossy(&text);
    if let Some(closed) = closed(&text) {
        objects.put(&dest, PLAYLIST, Bytes::from(closed)).await?;
    }
    Ok(())
}

/// The playlist with `#EXT-X-ENDLIST` added, or `None` when it has it.
fn closed(text: &str) -> Option<String> {
    if text.lines().any(|line| line.trim() == END_LIST) {
        return None;
    }
    let mut closed = text.to_owned();
    if !closed.is_empty() && !closed.ends_with('\n') {
        closed.push('\n');
    }
    closed.push_str(END_LIST);
    closed.push('\n');
    Some(closed)
}

/// The segment names a playlist lists, in order.
fn segments(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// The media sequence number ffmpeg puts in a segment's name (`index12.ts`), for ordering.
fn sequence_of(name: &str) -> u64 {
    let digits: String =
        name.chars().rev().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.chars().rev().collect::<String>().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_playlist_is_closed_once() {
        let open = "#EXTM3U\n#EXTINF:2.0,\nindex0.ts\n";
        let once = closed(open).unwrap();
        assert_eq!(once, format!("{open}#EXT-X-ENDLIST\n"));
        assert_eq!(closed(&once), None);
    }

    #[test]
    fn segments_are_the_playlists_uri_lines() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2.0,\nindex3.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.0,\nindex4.ts\n";
        assert_eq!(segments(text).collect::<Vec<_>>(), ["index3.ts", "index4.ts"]);
        assert_eq!(sequence_of("index12.ts"), 12);
    }
}
