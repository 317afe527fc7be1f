//! Listing 4-1 shows what chapter 4 says about a blocking read(), on a real
//! connection: each read returns what has arrived, up to the length asked;
//! read_exact waits for the rest; a length prefix separates messages.

use std::time::Duration;

use testkit::{Process, Transcript, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch04-short-reads");

#[test]
fn every_read_returns_what_arrived_up_to_the_length_asked() {
    let run = Process::run(PROGRAM, [] as [&str; 0], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "the writer sends 7 bytes",
            "read() with room for 64 bytes returned 7: \"Hello, \"",
            "the writer sends 7 bytes",
            "read() with room for 64 bytes returned 7: \"world!\\n\"",
            "the writer sends 14 bytes",
            "read() with room for 4 bytes returned 4: \"Hell\"",
        ]
    );
    assert_eq!(
        lines[6],
        "read() with room for 64 bytes returned 10: \"o, world!\\n\""
    );
    Transcript::new("transcripts/run.console")
        .command("cargo run -p ch04-short-reads")
        .output(&run.stdout)
        .check();
}

#[test]
fn read_exact_waits_for_the_second_part() {
    let run = Process::run(PROGRAM, [] as [&str; 0], b"");
    let line = run
        .stdout
        .lines()
        .find(|line| line.starts_with("read_exact()"))
        .expect("a read_exact line");
    let (waited, message) = line
        .strip_prefix("read_exact() with room for 14 bytes returned after ")
        .and_then(|rest| rest.split_once(": "))
        .expect("the time and the message");
    assert_eq!(message, "\"Hello, world!\\n\"");
    let waited: Duration = parse_duration(waited);
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
}

#[test]
fn a_length_prefix_keeps_messages_apart() {
    let run = Process::run(PROGRAM, [] as [&str; 0], b"");
    let messages: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("read_message()"))
        .collect();
    assert_eq!(
        messages,
        [
            "read_message() returned 13 bytes: \"first message\"",
            "read_message() returned 6 bytes: \"second\"",
        ]
    );
}

/// "100.3ms" or "1.2s", as Debug prints a Duration.
fn parse_duration(text: &str) -> Duration {
    let (number, unit) = text
        .find(|c: char| c.is_alphabetic())
        .map(|at| text.split_at(at))
        .expect("a number and a unit");
    let number: f64 = number.parse().expect("a number");
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" => number / 1e6,
        "ns" => number / 1e9,
        other => panic!("unknown unit {other}"),
    };
    Duration::from_secs_f64(seconds)
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // `cargo run -p ch04-short-reads | head -1`: once head has gone, every
    // write to stdout fails with EPIPE, and println! would panic.
    conventions::assert_a_closed_stdout_is_reported(
        std::process::Command::new(PROGRAM),
        b"",
        "could not print",
    );
}
