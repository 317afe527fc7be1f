//! Listing 4-3 shows what chapter 4 says about non-blocking connect() and
//! accept(), on real sockets: accept() with nobody calling fails with
//! WouldBlock; connect() returns EINPROGRESS, the socket turns writable when
//! the handshake is over, and SO_ERROR tells success from refusal.

use testkit::{Process, Transcript, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch04-nonblocking-connect");

#[test]
fn connect_and_accept_report_every_step() {
    let run = Process::run(PROGRAM, [] as [&str; 0], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 10, "{}", run.stdout);
    let listener = lines[0]
        .strip_prefix("listening on ")
        .and_then(|rest| rest.strip_suffix(", without blocking"))
        .expect("the listener's address");
    assert_eq!(
        lines[1],
        "accept() with nobody calling: Resource temporarily unavailable (os error 11)"
    );
    assert_eq!(
        lines[2],
        format!(
            "connect() to {listener}: Operation now in progress (os error 115)"
        )
    );
    assert!(lines[3].starts_with("poll() says the socket is writable, after "));
    let client = lines[4]
        .strip_prefix("SO_ERROR is 0: connected, from ")
        .expect("a successful connection");
    assert_eq!(
        lines[5],
        "poll() says the listener is readable: a connection is waiting"
    );
    // The connection accepted is the one the client made.
    assert_eq!(
        lines[6],
        format!("accept() returns the connection from {client}")
    );
    assert!(lines[7].ends_with(": Operation now in progress (os error 115)"));
    assert!(lines[8].starts_with("poll() says the socket is writable, after "));
    assert_eq!(lines[9], "SO_ERROR is Connection refused (os error 111)");

    Transcript::new("transcripts/run.console")
        .command("cargo run -p ch04-nonblocking-connect")
        .output(&run.stdout)
        .check();
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // `cargo run -p ch04-nonblocking-connect | head -1`: once head has gone, every
    // write to stdout fails with EPIPE, and println! would panic.
    conventions::assert_a_closed_stdout_is_reported(
        std::process::Command::new(PROGRAM),
        b"",
        "could not print",
    );
}
