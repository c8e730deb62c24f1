//! Callback inboxes: named lists of the requests posted to `/_taskgate/inbox/{name}`, so a test
//! points a `CallbackURL` at taskgate itself and reads what arrived. In memory, bounded: an
//! inbox keeps its newest [`MAX_RECORDS`], all inboxes together at most [`MAX_TOTAL_BYTES`]
//! of bodies and headers (a request beyond is refused, so its sender retries after a reset).

use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Requests one inbox keeps; the oldest goes when another arrives.
pub const MAX_RECORDS: usize = 1_000;
/// Inboxes at once.
pub const MAX_INBOXES: usize = 256;
/// Largest body recorded, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Bytes of bodies and headers held by all inboxes together.
pub const MAX_TOTAL_BYTES: usize = 64 << 20;
/// Longest inbox name: letters, digits, `-`, `_` and `.`.
pub const MAX_NAME_CHARS: usize = 128;

/// One request as it arrived.
#[derive(Debug, Clone, Serialize)]
pub struct InboxRecord {
    pub method: String,
    /// The path and query after `/_taskgate/inbox/{name}`, if any.
    pub query: Option<String>,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body parsed, when it is JSON.
    pub json: Option<serde_json::Value>,
    /// When it arrived, in Unix milliseconds.
    pub received_at_ms: i64,
}

impl InboxRecord {
    fn size(&self) -> usize {
        self.body.len() + self.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>()
    }
}

/// Why a request was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InboxRefusal {
    #[error("an inbox name has 1 to 128 letters, digits, '-', '_' or '.'")]
    BadName,
    #[error("the body is larger than 1 MiB")]
    TooLarge,
    #[error("256 inboxes exist already; reset or delete one")]
    TooManyInboxes,
    #[error("the inboxes hold 64 MiB already; reset or delete one")]
    Full,
}

#[derive(Default)]
struct Inboxes {
    by_name: HashMap<String, VecDeque<InboxRecord>>,
    bytes: usize,
}

#[derive(Default)]
pub struct Inbox {
    inner: Mutex<Inboxes>,
}

pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inboxes> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn record(&self, name: &str, record: InboxRecord) -> Result<(), InboxRefusal> {
        if !valid_name(name) {
            return Err(InboxRefusal::BadName);
        }
        if record.body.len() > MAX_BODY_BYTES {
            return Err(InboxRefusal::TooLarge);
        }
        let mut inboxes = self.lock();
        if !inboxes.by_name.contains_key(name) && inboxes.by_name.len() >= MAX_INBOXES {
            return Err(InboxRefusal::TooManyInboxes);
        }
        let size = record.size();
        if inboxes.bytes + size > MAX_TOTAL_BYTES {
            return Err(InboxRefusal::Full);
        }
        let inboxes = &mut *inboxes;
        let list = inboxes.by_name.entry(name.to_owned()).or_default();
        if list.len() == MAX_RECORDS
            && let Some(oldest) = list.pop_front()
        {
            inboxes.bytes -= oldest.size();
        }
        list.push_back(record);
        inboxes.bytes += size;
        Ok(())
    }

    /// The inbox's requests, oldest first (empty for an inbox nothing was posted to).
    pub fn list(&self, name: &str) -> Vec<InboxRecord> {
        self.lock().by_name.get(name).map(|l| l.iter().cloned().collect()).unwrap_or_default()
    }

    /// Empties one inbox; returns how many requests went.
    pub fn clear(&self, name: &str) -> usize {
        let mut inboxes = self.lock();
        let removed = inboxes.by_name.remove(name).unwrap_or_default();
        inboxes.bytes -= removed.iter().map(InboxRecord::size).sum::<usize>();
        removed.len()
    }

    /// Empties every inbox; returns how many requests went.
    pub fn clear_all(&self) -> usize {
        let mut inboxes = self.lock();
        inboxes.bytes = 0;
        inboxes.by_name.drain().map(|(_, l)| l.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: &str) -> InboxRecord {
        InboxRecord {
            method: "POST".into(),
            query: None,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            json: None,
            received_at_ms: 0,
        }
    }

    #[test]
    fn an_inbox_keeps_its_newest_records_oldest_first() {
        let inbox = Inbox::default();
        for i in 0..MAX_RECORDS + 2 {
            inbox.record("a", record(&i.to_string())).unwrap();
        }
        let list = inbox.list("a");
        assert_eq!(list.len(), MAX_RECORDS);
        assert_eq!(list[0].body, "2");
        assert_eq!(list.last().unwrap().body, (MAX_RECORDS + 1).to_string());
    }

    #[test]
    fn the_inboxes_hold_a_bounded_number_of_bytes() {
        let inbox = Inbox::default();
        let big = "x".repeat(MAX_BODY_BYTES);
        let fits = MAX_TOTAL_BYTES / (MAX_BODY_BYTES + 30);
        for i in 0..fits {
            inbox.record(&format!("n{}", i % 10), record(&big)).unwrap();
        }
        assert_eq!(inbox.record("other", record(&big)), Err(InboxRefusal::Full));
        assert_eq!(inbox.clear("n0"), fits.div_ceil(10));
        inbox.record("other", record(&big)).unwrap();
    }

    #[test]
    fn names_are_plain_and_bodies_bounded() {
        let inbox = Inbox::default();
        assert_eq!(inbox.record("../x", record("")), Err(InboxRefusal::BadName));
        assert_eq!(inbox.record("", record("")), Err(InboxRefusal::BadName));
        assert_eq!(inbox.record("a", record(&"x".repeat(MAX_BODY_BYTES + 1))), Err(InboxRefusal::TooLarge));
    }
}
