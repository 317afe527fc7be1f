//! Listing 4-5 shows what chapter 4 says about small writes: a frame sent in
//! two writes waits for a delayed ACK at every round trip, and one write per
//! frame, or TCP_NODELAY, does not.
//!
//! The times depend on the machine, and the transcript masks them; this test
//! checks how they compare instead.

use testkit::{Process, Transcript, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch04-nagle");

/// The milliseconds a whole run took, from a line such as
/// `one write a frame:       0.582 ms in all, 0.029 ms a round trip`.
fn total_ms(line: &str, way: &str) -> f64 {
    line.strip_prefix(&format!("{way}:"))
        .and_then(|rest| rest.trim_start().split_once(" ms in all, "))
        .and_then(|(total, _)| total.parse().ok())
        .unwrap_or_else(|| panic!("not a line for {way:?}: {line:?}"))
}

#[test]
fn two_writes_a_frame_wait_for_the_delayed_ack_and_one_write_does_not() {
    let run = Process::run(PROGRAM, [] as [&str; 0], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    let two_writes = total_ms(lines[1], "two writes a frame");
    let one_write = total_ms(lines[2], "one write a frame");
    let no_delay = total_ms(lines[3], "two writes, TCP_NODELAY");
    // Each round trip in two writes waits for the peer's delayed ACK (40 ms
    // or more on Linux), where the others take a fraction of a millisecond.
    // The margin is wide, so that a busy machine cannot blur it.
    assert!(
        two_writes > 4.0 * one_write && two_writes > 4.0 * no_delay,
        "{}",
        run.stdout
    );
    Transcript::new("transcripts/run.console")
        .command("cargo run -p ch04-nagle")
        .output(&run.stdout)
        .check();
}

#[test]
fn the_number_of_round_trips_can_be_chosen() {
    let run = Process::run(PROGRAM, ["3"], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.starts_with("3 round trips: "), "{}", run.stdout);
}

#[test]
fn bad_arguments_print_usage() {
    testkit::conventions::assert_bad_arguments_print_usage(
        PROGRAM,
        &[&["0"], &["many"], &["3", "extra"]],
        "usage: ch04-nagle [ROUNDS]",
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    let mut command = std::process::Command::new(PROGRAM);
    command.arg("1");
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"",
        "could not print",
    );
}
