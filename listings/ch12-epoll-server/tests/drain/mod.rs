//! The check that matters most for an edge-triggered loop, shared by the
//! tests of both modes.

use std::io::Read;
use std::thread;

use testkit::Server;
use testkit::select_server::welcomed;

/// A client sends 2,000 lines, some 150 KiB, in one write, far more than
/// one read of 4 KiB (or one turn of 16 reads) takes, and then waits: it
/// gets every reply. An edge-triggered loop that reads once per event
/// answers the first read's worth and then waits for an edge that never
/// comes; this test then fails with a read timeout.
pub fn drains_a_client_that_sends_many_reads_worth_at_once(program: &str) {
    let server = Server::start(program);
    let mut client = welcomed(&server);
    let lines: Vec<String> = (0..2000)
        .map(|number| format!("line {number:04} {}", "x".repeat(64)))
        .collect();
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let expected: String = lines
        .iter()
        .map(|line| format!("OK ... {line}\n"))
        .collect();
    // The replies are read while the lines are written: a client that
    // wrote 150 KiB before reading would be dropped past MAX_UNSENT.
    let mut reader = client.stream().try_clone().expect("clone the stream");
    let collector = thread::spawn(move || {
        let mut replies = vec![0u8; expected.len()];
        let result = reader.read_exact(&mut replies);
        (result, replies, expected)
    });
    client.send(text.as_bytes());
    let (result, replies, expected) =
        collector.join().expect("the reader thread");
    let got = String::from_utf8_lossy(&replies);
    if let Err(err) = result {
        let answered = got.matches("OK ... ").count();
        panic!("{err}: only {answered} of 2000 lines were answered");
    }
    assert!(got == expected, "the replies differ from the lines sent");
}
