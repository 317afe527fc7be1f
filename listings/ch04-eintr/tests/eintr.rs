//! Listing 4-4 shows what chapter 4 says about signals and blocking calls, on
//! real connections: a read() that got nothing fails with EINTR; a recv with
//! MSG_WAITALL and a write() that got part of the way return short; and
//! read_exact() and SA_RESTART carry on as if nothing happened.

use testkit::measured::as_shown;
use testkit::{Process, Transcript, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch04-eintr");

#[test]
fn a_signal_interrupts_blocking_calls_unless_they_are_restarted() {
    let run = Process::run(PROGRAM, [] as [&str; 0], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert_eq!(
        lines[1],
        "read(), nothing to read: Interrupted system call (os error 4)"
    );
    assert_eq!(
        lines[2],
        "recv(MSG_WAITALL) for 10 bytes, 4 there: returned 4 bytes"
    );
    // The write returned short: more than nothing, less than asked.
    let written: usize = lines[3]
        .strip_prefix("write() of 16777216 bytes nobody reads: returned ")
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line: {}", lines[3]));
    assert!(0 < written && written < 16 * 1024 * 1024, "{written}");
    assert_eq!(
        lines[4],
        "read_exact() slept through the signals and returned \"hello\\n\""
    );
    assert_eq!(
        lines[5],
        "with SA_RESTART, read() slept through the signals and returned \"hello\\n\""
    );

    let shown =
        as_shown("transcripts/run.console", &run.stdout, r"returned \d+$");
    Transcript::new("transcripts/run.console")
        .command("cargo run -p ch04-eintr")
        .output(&shown)
        .check();
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // `cargo run -p ch04-eintr | head -1`: once head has gone, every
    // write to stdout fails with EPIPE, and println! would panic.
    conventions::assert_a_closed_stdout_is_reported(
        std::process::Command::new(PROGRAM),
        b"",
        "could not print",
    );
}
