//! The command of `taskgate exec [dev options] -- CMD…` (like `firebase emulators:exec`, for any
//! language's test runner): `main.rs` keeps a dev server answering while CMD runs here.

use anyhow::Context;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use tokio::signal::unix::{SignalKind, signal};

/// The status a shell gives a command it could not find, and one it found but could not run.
const NOT_FOUND: u8 = 127;
const NOT_EXECUTABLE: u8 = 126;

/// Runs `command` (its first item the program) with the variables of `--print-env` for
/// `endpoint`, forwarding SIGTERM and SIGINT to it; answers its exit status as a shell would.
pub(crate) async fn run_command(command: Vec<OsString>, endpoint: String) -> anyhow::Result<u8> {
    let (program, args) = command.split_first().context("exec needs a command after `--`")?;
    // Installed before CMD starts: from then on the signals are CMD's to handle, not ours.
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let mut child = match tokio::process::Command::new(program).args(args).envs(variables(&endpoint)).spawn() {
        Ok(child) => child,
        Err(error) => {
            let name = program.to_string_lossy();
            return Ok(match error.kind() {
                std::io::ErrorKind::NotFound => {
                    eprintln!("taskgate exec: {name}: command not found");
                    NOT_FOUND
                }
                _ => {
                    eprintln!("taskgate exec: {name}: {error}");
                    NOT_EXECUTABLE
                }
            });
        }
    };
    let status = loop {
        let forward = tokio::select! {
            status = child.wait() => break status.context("waiting for the command")?,
            _ = term.recv() => libc::SIGTERM,
            _ = interrupt.recv() => libc::SIGINT,
        };
        if let Some(pid) = child.id() {
            // SAFETY: kill only sends a signal; the pid is our child's, not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, forward) };
        }
    };
    Ok(exit_code(status))
}

/// What `--print-env` prints, as (name, value) pairs.
fn variables(endpoint: &str) -> Vec<(String, String)> {
    taskgate::dev::env_lines(endpoint)
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// A shell's `$?`: the exit code, or 128 + N for a command killed by signal N.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => (128 + signal) as u8,
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_are_those_print_env_prints() {
        let names: Vec<_> = variables("http://127.0.0.1:1").into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TASKGATE_ENDPOINT"]);
        assert!(variables("http://127.0.0.1:1").contains(&("TASKGATE_ENDPOINT".into(), "http://127.0.0.1:1".into())));
    }

    #[test]
    fn a_command_killed_by_a_signal_exits_with_128_plus_the_signal() {
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
    }
}
