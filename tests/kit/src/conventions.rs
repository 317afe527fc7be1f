//! Checks of the conventions every listing follows (Appendix A): a taken
//! address is reported in one line with exit status 1, bad arguments print
//! a usage line with exit status 2, and output that nobody can read is
//! reported in one line with exit status 1, never by a panic. Each
//! listing's tests call these, so the convention is spelled out once.

use std::ffi::OsStr;
use std::fmt::Display;
use std::process::Command;

use crate::pipes::closed_pipe;
use crate::{Finished, Process};

/// Runs `program ADDR` where `addr` is already taken by another socket: the
/// program must say so in one line on stderr, print nothing on stdout, and
/// exit with status 1. Returns the run, for a transcript.
#[track_caller]
pub fn assert_address_in_use_is_reported(
    program: impl AsRef<OsStr>,
    addr: impl Display,
) -> Finished {
    let addr = addr.to_string();
    let run = Process::run(program, [&addr], b"");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "", "nothing but the error is printed");
    assert_eq!(
        run.stderr,
        format!(
            "could not bind {addr}: Address already in use (os error 98)\n"
        )
    );
    run
}

/// Runs `program` with each command line of `bad_args`: each must print
/// `usage` (one line, newline added here) to stderr, nothing to stdout, and
/// exit with status 2.
#[track_caller]
pub fn assert_bad_arguments_print_usage(
    program: impl AsRef<OsStr>,
    bad_args: &[&[&str]],
    usage: &str,
) {
    for args in bad_args {
        let run = Process::run(program.as_ref(), *args, b"");
        assert_eq!(run.code(), 2, "{args:?}: {run:?}");
        assert_eq!(run.stderr, format!("{usage}\n"), "{args:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

/// Starts `program` with no address, and `PORT` set to a free port: like
/// the original's servers, the servers of chapters 9 and 10 then listen on
/// loopback and the port in `PORT`.
#[track_caller]
pub fn assert_without_an_address_it_listens_on_loopback_and_port(
    program: impl AsRef<OsStr>,
) {
    let port = crate::unused_port();
    let server = crate::Server::start_with(
        program,
        std::iter::empty::<&str>(),
        &[("PORT", &port.to_string())],
    );
    assert_eq!(
        server.addr(),
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    );
}

/// Runs `command` to the end with `stdin` as its input and, as its stdout,
/// a pipe whose reader is gone, as in `cargo run ... | head -0`: every
/// write to stdout fails with `EPIPE` (and `println!` would panic). Returns
/// how it ended.
#[track_caller]
pub fn run_with_closed_stdout(command: Command, stdin: &[u8]) -> Finished {
    let mut process = Process::spawn_with_stdout(command, closed_pipe().into());
    process.write_stdin(stdin);
    process.close_stdin();
    process.finish()
}

/// Runs `command` as [`run_with_closed_stdout`] does: it must say so in one
/// line on stderr, `<what>: Broken pipe (os error 32)` (such as `could not
/// print the reply: ...`), and exit with status 1. Returns the run.
#[track_caller]
pub fn assert_a_closed_stdout_is_reported(
    command: Command,
    stdin: &[u8],
    what: &str,
) -> Finished {
    let run = run_with_closed_stdout(command, stdin);
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stderr, format!("{what}: Broken pipe (os error 32)\n"));
    run
}

/// The message of the book's forking and prefork servers (chapters 8 to
/// 10) for a `MAX_PROCS` they refuse, `shown` as Rust's `{:?}` shows it.
fn max_procs_refused(shown: &str) -> String {
    format!("MAX_PROCS must be a number of processes, 1 or more, not {shown}\n")
}

/// Runs `program 127.0.0.1:0` with each of `values` as `MAX_PROCS` (zero,
/// not a number, too large to hold...): each must be refused before the
/// program listens or prints anything, in one line on stderr, with status
/// 2 (chapters 8 to 10 read it alike).
#[track_caller]
pub fn assert_bad_max_procs_are_refused(
    program: impl AsRef<OsStr>,
    values: &[&str],
) {
    for value in values {
        let run = Process::run_with_env(
            program.as_ref(),
            ["127.0.0.1:0"],
            &[("MAX_PROCS", value)],
            b"",
        );
        assert_eq!(run.code(), 2, "MAX_PROCS={value:?}: {run:?}");
        assert_eq!(run.stdout, "", "refused before anything is printed");
        assert_eq!(run.stderr, max_procs_refused(&format!("{value:?}")));
    }
}

/// A `MAX_PROCS` that is not even text (not UTF-8) is refused like any
/// other, and shown escaped: `"tw\xFFo"`.
#[track_caller]
pub fn assert_a_max_procs_that_is_not_text_is_refused(
    program: impl AsRef<OsStr>,
) {
    use std::os::unix::ffi::OsStrExt;
    let mut command = std::process::Command::new(program);
    command
        .arg("127.0.0.1:0")
        .env("MAX_PROCS", OsStr::from_bytes(b"tw\xffo"));
    let run = Process::run_command(command);
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(run.stdout, "", "refused before anything is printed");
    assert_eq!(run.stderr, max_procs_refused("\"tw\\xFFo\""));
}
