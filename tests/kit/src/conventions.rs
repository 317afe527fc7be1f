//! Checks of the conventions every listing follows (Appendix A): a taken
//! address is reported in one line with exit status 1, and bad arguments
//! print a usage line with exit status 2. Each listing's tests call these, so
//! the convention is spelled out once.

use std::ffi::OsStr;
use std::fmt::Display;

use crate::{Finished, Process};

/// Runs `program ADDR` where `addr` is already taken by another socket: the
/// program must say so in one line on stderr, print nothing on stdout, and
/// exit with status 1. Returns the run, for a transcript.
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
/// `usage` (one line, newline added here) to stderr and exit with status 2.
pub fn assert_bad_arguments_print_usage(
    program: impl AsRef<OsStr>,
    bad_args: &[&[&str]],
    usage: &str,
) {
    for args in bad_args {
        let run = Process::run(program.as_ref(), *args, b"");
        assert_eq!(run.code(), 2, "{args:?}: {run:?}");
        assert_eq!(run.stderr, format!("{usage}\n"), "{args:?}");
    }
}
