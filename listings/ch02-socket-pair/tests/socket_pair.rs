//! Listing 2-1 behaves as chapter 2 says: what one socket of the pair writes,
//! the other reads, in both directions, and closing one end is end of stream
//! at the other.

use std::process::Command;

use testkit::{Process, Transcript, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch02-socket-pair");

#[test]
fn each_end_reads_what_the_other_wrote_then_end_of_stream() {
    let run = Process::run(PROGRAM, std::iter::empty::<&str>(), b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        concat!(
            "socket 0 wrote 10 bytes: \"ABCdef123\\n\"\n",
            "socket 1 read 10 bytes: \"ABCdef123\\n\"\n",
            "socket 1 wrote 7 bytes: \"got it\\n\"\n",
            "socket 0 read 7 bytes: \"got it\\n\"\n",
            "socket 0 read 0 bytes: \"\"\n",
        )
    );
    Transcript::new("transcripts/pair.console")
        .command("cargo run -p ch02-socket-pair")
        .output(&run.stdout)
        .check();
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // Like `| head -0`: nobody can read the report, and writing it fails
    // with EPIPE. The program says so and fails; it does not panic.
    conventions::assert_a_closed_stdout_is_reported(
        Command::new(PROGRAM),
        b"",
        "could not print the report",
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        PROGRAM,
        &[&["extra"]],
        "usage: ch02-socket-pair",
    );
}
