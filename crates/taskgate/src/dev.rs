//! `taskgate dev`: the server as a test emulator. Well-known credentials, state in a temporary
//! folder removed at exit, loopback and private callback targets allowed, the `/_taskgate`
//! control API open on loopback, and fixtures (`--seed DIR`) loaded at start.

use crate::config::{AccountConfig, Config, CredentialConfig, SdkAppConfig};
use crate::products::tiw::rooms::{RoomKey, Rooms};
use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use whiteboard::op::Op;

/// The well-known account of dev mode, like Azurite's devstoreaccount1: the same everywhere,
/// so tests and READMEs can name it.
pub const UIN: &str = "100000000001";
pub const SECRET_ID: &str = "AKIDtaskgatedev000000000000000000000";
pub const SECRET_KEY: &str = "taskgatedevsecretkey000000000000";
pub const SDK_APP_ID: u64 = 1_400_000_001;
/// The UserSig key of [`SDK_APP_ID`].
pub const USER_SIG_KEY: &str = "taskgatedevusersigkey";

/// The well-known account: every service, the well-known credential and SdkAppId.
pub fn well_known_account() -> AccountConfig {
    AccountConfig {
        uin: UIN.into(),
        services: vec![crate::action::Service::Tiw, crate::action::Service::Tcss, crate::action::Service::Ecm],
        service_expires_at: None,
        credentials: vec![CredentialConfig {
            secret_id: SECRET_ID.into(),
            secret_key: SECRET_KEY.into(),
            tokens: Vec::new(),
        }],
        sdk_apps: vec![SdkAppConfig { sdk_app_id: SDK_APP_ID, secret_key: USER_SIG_KEY.into(), callback_key: None }],
        clusters: Vec::new(),
        app_id: None,
        buckets: Vec::new(),
    }
}

/// What `--print-env` prints, for `eval`: the variables the official SDKs' environment
/// credential providers read, and the endpoint.
pub fn env_lines(endpoint: &str) -> String {
    format!(
        "export TENCENTCLOUD_SECRET_ID={SECRET_ID}\nexport TENCENTCLOUD_SECRET_KEY={SECRET_KEY}\nexport TASKGATE_ENDPOINT={endpoint}\n"
    )
}

/// A data directory of its own, removed when dropped (at the end of `taskgate dev`).
pub struct TemporaryDir(PathBuf);

impl TemporaryDir {
    pub fn new() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("taskgate-dev-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TemporaryDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            eprintln!("removing {} failed: {error}", self.0.display());
        }
    }
}

/// Fixtures of `--seed DIR`, read and checked before the server starts.
pub struct Seed {
    pub accounts: Vec<AccountConfig>,
    pub rooms: Vec<SeededRoom>,
}

/// `rooms/<SdkAppId>/<RoomId>.json`: a room's operation log.
pub struct SeededRoom {
    pub room: RoomKey,
    pub file: PathBuf,
    pub ops: Vec<SeededOp>,
}

/// One operation of a seeded log: what `GET …/ops` returns (its `seq` is ignored, the log is
/// numbered anew in file order; `received_at_ms` defaults to the start time).
#[derive(Deserialize)]
pub struct SeededOp {
    pub user_id: String,
    #[serde(default)]
    pub received_at_ms: Option<i64>,
    #[serde(default)]
    #[expect(dead_code, reason = "exported logs carry it; the seeded log is numbered anew")]
    seq: Option<u64>,
    #[serde(flatten)]
    pub op: Op,
}

/// Reads `DIR/accounts.toml` (the configuration's `[[accounts]]` format) and
/// `DIR/rooms/<SdkAppId>/<RoomId>.json`. Errors name the file and, for a malformed one, the
/// line and column.
pub fn read_seed(dir: &Path) -> anyhow::Result<Seed> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AccountsFile {
        #[serde(default)]
        accounts: Vec<AccountConfig>,
    }
    if !dir.is_dir() {
        anyhow::bail!("the seed directory {} does not exist", dir.display());
    }
    let accounts_file = dir.join("accounts.toml");
    let accounts = match std::fs::read_to_string(&accounts_file) {
        Ok(text) => {
            toml::from_str::<AccountsFile>(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", accounts_file.display()))?
                .accounts
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", accounts_file.display())),
    };
    let mut rooms = Vec::new();
    let rooms_dir = dir.join("rooms");
    if rooms_dir.is_dir() {
        for app in sorted_entries(&rooms_dir)? {
            for file in sorted_entries(&app)? {
                rooms.push(read_room(&app, &file)?);
            }
        }
    }
    Ok(Seed { accounts, rooms })
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort();
    Ok(entries)
}

fn read_room(app: &Path, file: &Path) -> anyhow::Result<SeededRoom> {
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    let (app_name, file_name) = (name(app), name(file));
    let room_id = file_name
        .strip_suffix(".json")
        .with_context(|| format!("{}: a seeded room is rooms/<SdkAppId>/<RoomId>.json", file.display()))?;
    let room = RoomKey::parse(&app_name, room_id).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let ops: Vec<SeededOp> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", file.display(), e.line(), e.column()))?;
    for (i, op) in ops.iter().enumerate() {
        op.op.validate().map_err(|e| anyhow::anyhow!("{}: operation [{i}]: {e}", file.display()))?;
    }
    Ok(SeededRoom { room, file: file.to_owned(), ops })
}

/// Adds the well-known account and the seeded ones to `config` and opens it the way a test
/// suite needs it. A seeded account repeating a SecretId or SdkAppId stops the start when
/// the accounts are built.
pub fn configure(config: &mut Config, seed: Option<&Seed>, any_credentials: bool) {
    config.accounts.push(well_known_account());
    if let Some(seed) = seed {
        config.accounts.extend(seed.accounts.iter().cloned());
    }
    config.allow_private_callback_targets = true;
    config.control.open_on_loopback = true;
    // One process by construction, on SQLite or PostgreSQL alike.
    config.objects.single_node = true;
    config.any_credentials = any_credentials;
}

/// Writes the seeded rooms' logs; a room that already has operations (a `--data-dir` kept
/// from an earlier run) is left as it is.
pub async fn seed_rooms(rooms: &Rooms, seeded: Vec<SeededRoom>, now_ms: i64) -> anyhow::Result<()> {
    for seeded in seeded {
        let (last_seq, _) = rooms.last_seq_and_marks(seeded.room).await?;
        if last_seq > 0 {
            tracing::info!(file = %seeded.file.display(), "the room has operations already; its seed is skipped");
            continue;
        }
        let mut ops = seeded.ops.into_iter().peekable();
        while let Some(first) = ops.next() {
            // Consecutive operations of one user at one time go in one append.
            let at = first.received_at_ms.unwrap_or(now_ms);
            let mut batch = vec![first.op];
            while let Some(next) =
                ops.next_if(|n| n.user_id == first.user_id && n.received_at_ms.unwrap_or(now_ms) == at)
            {
                batch.push(next.op);
            }
            rooms
                .append(seeded.room, &first.user_id, batch, at)
                .await
                .with_context(|| format!("seeding {}", seeded.file.display()))?;
        }
    }
    Ok(())
}
