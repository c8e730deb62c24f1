//! The `taskgate` command: `serve` runs the server, `dev` runs it as a test emulator, `exec`
//! runs a command against a dev server of its own, `usersig` issues a room client's UserSig.

mod exec;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
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
    /// Run the server for test suites: well-known credentials, state in a temporary folder
    /// removed at exit, callbacks to loopback allowed, the /_taskgate control API on loopback.
    Dev(DevArgs),
    /// Start a dev server, run CMD with TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and
    /// TASKGATE_ENDPOINT set, stop the server and exit with CMD's status (128+N if a signal N
    /// killed it, 127 if it was not found). SIGTERM and SIGINT are forwarded to CMD. The server
    /// logs warnings only, unless RUST_LOG says otherwise.
    Exec {
        #[command(flatten)]
        dev: DevOptions,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
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

#[derive(clap::Args)]
struct DevArgs {
    #[command(flatten)]
    options: DevOptions,
    /// Print the credentials and endpoint as shell variables (for eval) and exit.
    #[arg(long)]
    print_env: bool,
}

/// The options `dev` and `exec` share.
#[derive(clap::Args)]
struct DevOptions {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Keep the state in this folder (kept after exit) instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Load fixtures at start: accounts.toml and rooms/<SdkAppId>/<RoomId>.json.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Accept any SecretId as an account of its own; signatures are checked for form only.
    #[arg(long)]
    any_credentials: bool,
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // exec shares its stderr with CMD: the server's routine lines would bury CMD's output.
    let default_filter = if matches!(cli.command, Command::Exec { .. }) { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Escape codes only where a person reads them: not in a file, a pipe or a journal.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Serve { config } => serve(load_config(config.as_deref())?, Mode::Serve).map(|()| ExitCode::SUCCESS),
        Command::Dev(args) => dev(args).map(|()| ExitCode::SUCCESS),
        Command::Exec { dev, command } => exec(dev, command),
        Command::Usersig { config, sdk_app_id, user_id, expire_secs } => {
            let config = load_config(config.as_deref())?;
            let accounts = accounts::Accounts::from_config(&config.accounts)?;
            let key = accounts
                .sdk_app_key(sdk_app_id)
                .with_context(|| format!("SdkAppId {sdk_app_id} is not configured for any account"))?;
            let now = SignatureClock::from_config(config.frozen_time).now_unix();
            println!("{}", tcapi::usersig::gen_usersig(key, sdk_app_id, &user_id, now, expire_secs));
            Ok(ExitCode::SUCCESS)
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

fn dev(args: DevArgs) -> anyhow::Result<()> {
    if args.print_env {
        print!("{}", taskgate::dev::env_lines(&format!("http://{}", args.options.listen)));
        return Ok(());
    }
    let dev = DevServer::prepare(args.options)?;
    let served = serve(dev.config, Mode::Dev { rooms: dev.rooms, banner: Banner::Stdout });
    drop(dev.temporary);
    served
}

/// Starts a dev server, runs `command` against it, stops the server gracefully, removes its
/// temporary folder and returns the command's exit status.
fn exec(options: DevOptions, command: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let dev = DevServer::prepare(options)?;
    let code = run_server(dev.config, Mode::Dev { rooms: dev.rooms, banner: Banner::Stderr }, |bound| {
        exec::run_command(command, format!("http://{bound}"))
    });
    drop(dev.temporary);
    code.map(ExitCode::from)
}

/// A dev server's configuration, fixtures and temporary folder, ready to start.
struct DevServer {
    config: Config,
    rooms: Vec<taskgate::dev::SeededRoom>,
    /// The state's folder unless `--data-dir`; removed when dropped, so it must outlive the server.
    temporary: Option<taskgate::dev::TemporaryDir>,
}

impl DevServer {
    fn prepare(options: DevOptions) -> anyhow::Result<Self> {
        let seed = options.seed.as_deref().map(taskgate::dev::read_seed).transpose()?;
        let mut config =
            Config::load(options.config.as_deref()).map_err(|e| anyhow::anyhow!("reading the configuration: {e}"))?;
        config.listen = options.listen;
        let temporary = match options.data_dir {
            Some(dir) => {
                config.data_dir = dir;
                None
            }
            None => {
                let dir = taskgate::dev::TemporaryDir::new()?;
                config.data_dir = dir.path().to_owned();
                Some(dir)
            }
        };
        taskgate::dev::configure(&mut config, seed.as_ref(), options.any_credentials);
        let rooms = seed.map(|s| s.rooms).unwrap_or_default();
        Ok(Self { config, rooms, temporary })
    }
}

/// How `serve` starts: as configured, or as `taskgate dev` with its fixtures.
enum Mode {
    Serve,
    Dev { rooms: Vec<taskgate::dev::SeededRoom>, banner: Banner },
}

/// Where dev mode prints its banner: stdout for `dev`, stderr for `exec`, whose stdout is CMD's.
#[derive(Clone, Copy)]
enum Banner {
    Stdout,
    Stderr,
}

/// Runs the server until SIGTERM or SIGINT.
fn serve(config: Config, mode: Mode) -> anyhow::Result<()> {
    run_server(config, mode, |_| async {
        shutdown_signal().await;
        Ok(())
    })
}

/// Starts the server, answers requests while `until` runs (given the bound address), then stops
/// it gracefully and returns what `until` returned. Requests arriving before `until` starts wait
/// in the listener's backlog: the server answers them, so `until` may call it at once.
fn run_server<T, F, Fut>(config: Config, mode: Mode, until: F) -> anyhow::Result<T>
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let bound = listener.local_addr()?;
        let server = Server::start(config, bound).await?;
        match mode {
            Mode::Serve => println!("taskgate listening on http://{bound}"),
            Mode::Dev { rooms, banner } => {
                taskgate::dev::seed_rooms(server.rooms(), rooms, server.now_ms()).await?;
                match banner {
                    Banner::Stdout => print!("{}", dev_banner(bound)),
                    Banner::Stderr => eprint!("{}", dev_banner(bound)),
                }
            }
        }
        let stop = CancellationToken::new();
        let (_, outcome) = tokio::join!(http_server::serve(listener, server.router(), stop.clone()), async {
            let outcome = until(bound).await;
            tracing::info!("shutting down");
            stop.cancel();
            outcome
        });
        server.shutdown().await;
        outcome
    });
    // Dropping a runtime waits for every blocking thread; a stopped server must not.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    served
}

fn dev_banner(bound: std::net::SocketAddr) -> String {
    use taskgate::dev::{SDK_APP_ID, SECRET_ID, SECRET_KEY, UIN, USER_SIG_KEY};
    format!(
        "taskgate dev listening on http://{bound}\n  \
         Endpoint:  http://{bound} (any region; every product)\n  \
         Account:   {UIN}\n  SecretId:  {SECRET_ID}\n  SecretKey: {SECRET_KEY}\n  \
         SdkAppId:  {SDK_APP_ID} (UserSig key {USER_SIG_KEY})\n  \
         Control:   http://{bound}/_taskgate (health, reset, inbox/NAME, callbacks, tasks)\n"
    )
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
