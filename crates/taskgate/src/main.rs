//! The `taskgate` command: `serve` runs the server, `usersig` issues a room client's UserSig.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use taskgate::config::Config;
use taskgate::gateway::clock::SignatureClock;
use taskgate::server::Server;
use taskgate::{accounts, http_server};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(version, about = "Self-hosted Tencent Cloud API 3.0 server for tiw, tcss and ecm tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (SQLite and local files under ./taskgate-data unless configured).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a TLS-Sig-API v2 UserSig for a room client of a configured SdkAppId.
    Usersig {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        sdk_app_id: u64,
        #[arg(long)]
        user_id: String,
        #[arg(long, default_value_t = 86_400)]
        expire_secs: i64,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Escape codes only where a person reads them: not in a file, a pipe or a journal.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Serve { config } => serve(load_config(config.as_deref())?),
        Command::Usersig { config, sdk_app_id, user_id, expire_secs } => {
            let config = load_config(config.as_deref())?;
            let accounts = accounts::Accounts::from_config(&config.accounts)?;
            let key = accounts
                .sdk_app_key(sdk_app_id)
                .with_context(|| format!("SdkAppId {sdk_app_id} is not configured for any account"))?;
            let now = SignatureClock::from_config(config.frozen_time).now_unix();
            println!("{}", tcapi::usersig::gen_usersig(key, sdk_app_id, &user_id, now, expire_secs));
            Ok(())
        }
    }
}

fn load_config(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
    // figment's error keeps its detail in Display, which anyhow's context chain would drop.
    let mut config = Config::load(file).map_err(|e| anyhow::anyhow!("reading the configuration: {e}"))?;
    if accounts::ensure_default_account(&mut config)? {
        let account = &config.accounts[0];
        let credential = &account.credentials[0];
        println!("Created the default account {} (kept in {}):", account.uin, config.data_dir.display());
        println!("  SecretId:  {}", credential.secret_id);
        println!("  SecretKey: {}", credential.secret_key);
        println!("  SdkAppId:  {} (UserSig key in default-account.toml)", account.sdk_apps[0].sdk_app_id);
    }
    Ok(config)
}

/// How long the runtime waits, once the server stopped, for blocking work (a render, a hash)
/// that ignores cancellation, before the process exits anyway.
const BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Raises the soft open-files limit towards the hard one: the default soft limit (often 1024)
/// is below what `MAX_CONNECTIONS` sockets plus the store, workers and children need.
fn raise_open_files_limit() {
    let want = (2 * http_server::MAX_CONNECTIONS) as libc::rlim_t;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("could not raise the open-files limit");
            }
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let bound = listener.local_addr()?;
        let server = Server::start(config, bound).await?;
        println!("taskgate listening on http://{bound}");
        let stop = CancellationToken::new();
        tokio::spawn(shutdown_signal(stop.clone()));
        http_server::serve(listener, server.router(), stop).await;
        server.shutdown().await;
        anyhow::Ok(())
    });
    // Dropping a runtime waits for every blocking thread; a stopped server must not.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    served
}

async fn shutdown_signal(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    stop.cancel();
}
