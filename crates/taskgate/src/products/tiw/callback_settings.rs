//! Each application's event callbacks: where push and transcode events go and the keys that sign
//! them (SetWhiteboardPushCallback(Key), SetTranscodeCallback(Key)), on its `tiw_apps` row.

use taskgate_engine::{Store, StoreError, on_pool};

/// A family of events with its own callback URL and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFamily {
    /// `WhiteboardPushStarted`, `WhiteboardPushStopped`.
    Push,
    /// `TranscodeProgressChanged`, `TranscodeFinished`.
    Transcode,
}

/// One of a family's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Url,
    Key,
}

/// A family's callback of an application; empty strings when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackSettings {
    pub callback: String,
    pub callback_key: String,
}

fn db_id(sdk_app_id: u64) -> i64 {
    i64::try_from(sdk_app_id).unwrap_or(i64::MAX)
}

/// The family's settings of the application.
pub async fn get(store: &Store, sdk_app_id: u64, family: EventFamily) -> Result<CallbackSettings, StoreError> {
    let sql = match family {
        EventFamily::Push => "SELECT push_callback, push_callback_key FROM tiw_apps WHERE sdk_app_id = $1",
        EventFamily::Transcode => {
            "SELECT transcode_callback, transcode_callback_key FROM tiw_apps WHERE sdk_app_id = $1"
        }
    };
    let row: Option<(String, String)> = on_pool!(store.reader(), p => {
        sqlx::query_as(sql).bind(db_id(sdk_app_id)).fetch_optional(p).await.map_err(StoreError::from)?
    });
    Ok(row.map(|(callback, callback_key)| CallbackSettings { callback, callback_key }).unwrap_or_default())
}

/// Sets one setting of the family for the application; an empty value deletes it.
pub async fn set(
    store: &Store,
    sdk_app_id: u64,
    family: EventFamily,
    setting: Setting,
    value: &str,
) -> Result<(), StoreError> {
    let sql = match (family, setting) {
        (EventFamily::Push, Setting::Url) => {
            "INSERT INTO tiw_apps (sdk_app_id, push_callback) VALUES ($1, $2) \
             ON CONFLICT (sdk_app_id) DO UPDATE SET push_callback = excluded.push_callback"
        }
        (EventFamily::Push, Setting::Key) => {
            "INSERT INTO tiw_apps (sdk_app_id, push_callback_key) VALUES ($1, $2) \
             ON CONFLICT (sdk_app_id) DO UPDATE SET push_callback_key = excluded.push_callback_key"
        }
        (EventFamily::Transcode, Setting::Url) => {
            "INSERT INTO tiw_apps (sdk_app_id, transcode_callback) VALUES ($1, $2) \
             ON CONFLICT (sdk_app_id) DO UPDATE SET transcode_callback = excluded.transcode_callback"
        }
        (EventFamily::Transcode, Setting::Key) => {
            "INSERT INTO tiw_apps (sdk_app_id, transcode_callback_key) VALUES ($1, $2) \
             ON CONFLICT (sdk_app_id) DO UPDATE SET transcode_callback_key = excluded.transcode_callback_key"
        }
    };
    on_pool!(store.writer(), p => {
        sqlx::query(sql).bind(db_id(sdk_app_id)).bind(value).execute(p).await.map_err(StoreError::from)?.rows_affected()
    });
    Ok(())
}
