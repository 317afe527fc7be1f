//! Listing 4-2 shows what chapter 4 says about non-blocking writes, on a real
//! connection: with nobody reading, the kernel takes bytes until its buffers
//! are full, the last write() takes only part of its chunk, and the next one
//! fails with WouldBlock; a writer that keeps the rest and waits with poll()
//! gets every byte across, in order.
//!
//! The numbers depend on the kernel, so the transcript is compared with them
//! masked, and this test checks what they must be instead.

use testkit::measured::as_shown;
use testkit::{Process, Transcript, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch04-fill-send-buffer");
const CHUNK: usize = 64 * 1024;
const MORE: usize = 16 * 1024 * 1024;

/// The numbers in `line`, in order.
fn numbers(line: &str) -> Vec<usize> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|word| !word.is_empty())
        .map(|word| word.parse().expect("a number"))
        .collect()
}

#[test]
fn the_kernel_takes_bytes_until_its_buffers_are_full_then_says_would_block() {
    let run = Process::run(PROGRAM, [] as [&str; 0], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{}", run.stdout);

    // "62 calls took 4005888 bytes in all; the last one took 8192 of its 65536"
    let [calls, taken, last, chunk] = numbers(lines[1])[..] else {
        panic!("unexpected line: {}", lines[1]);
    };
    assert_eq!(chunk, CHUNK);
    assert!(0 < last && last <= CHUNK, "{}", lines[1]);
    // Each call took at least a byte and at most its chunk. Most take the
    // whole chunk, but not all need to: a write that finds the buffer nearly
    // full takes part, and the loop goes on once the kernel has made room
    // (a run here once had a partial write 21,504 bytes short mid-way).
    assert!(taken <= (calls - 1) * CHUNK + last, "{}", lines[1]);
    assert!(taken >= (calls - 1) + last, "{}", lines[1]);
    // The kernel buffered far more than one write, without anyone reading.
    assert!(taken > 4 * CHUNK, "{}", lines[1]);
    assert_eq!(
        lines[2],
        "the next write() failed: Resource temporarily unavailable (os error 11) (WouldBlock)"
    );

    // What it took fits in the writer's send buffer plus the reader's
    // receive buffer (and at most one chunk over, for the last write).
    let [send_buffer, receive_buffer] = numbers(lines[3])[..] else {
        panic!("unexpected line: {}", lines[3]);
    };
    assert!(
        taken <= send_buffer + receive_buffer + CHUNK,
        "{}",
        run.stdout
    );

    // The second part: the writer had to wait for room, and everything came.
    let [writes, waits] = numbers(lines[5])[..] else {
        panic!("unexpected line: {}", lines[5]);
    };
    assert!(waits >= 1 && writes > waits, "{}", lines[5]);
    assert_eq!(
        lines[6],
        format!("the reader got {} bytes, every one in order", taken + MORE)
    );

    let shown = as_shown("transcripts/run.console", &run.stdout, r"\d+");
    Transcript::new("transcripts/run.console")
        .command("cargo run -p ch04-fill-send-buffer")
        .output(&shown)
        .check();
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // `cargo run -p ch04-fill-send-buffer | head -1`: once head has gone, every
    // write to stdout fails with EPIPE, and println! would panic.
    conventions::assert_a_closed_stdout_is_reported(
        std::process::Command::new(PROGRAM),
        b"",
        "could not print",
    );
}
