//! What chapter 1 asks of every server of this book ("What can go wrong"),
//! checked on this one: a log that nobody reads, or that nobody can read,
//! does not stop it, and running out of descriptors makes it wait instead
//! of spinning. How each is checked is in `testkit::survival`.
//! The exercise itself is checked by `caller_number.rs`.

use std::process::Command;

use testkit::survival::{self, Conversation};
use testkit::{Client, Server};

const SERVER: &str = env!("CARGO_BIN_EXE_ch01-exercise-caller-number");

/// A call: the client says nothing.
struct Call;

impl Conversation for Call {
    /// The server greets the client and hangs up; it logs the call.
    fn hear(&self, client: &mut Client) -> usize {
        let greeting = client.read_to_end();
        assert!(greeting.starts_with(b"Hello "), "{greeting:?}");
        format!("call from {}\n", client.local_addr()).len()
    }
}

#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    // Once the pipe is full, a write to it would wait for ever.
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Call,
    );
}

#[test]
fn a_log_nobody_can_read_does_not_kill_the_server() {
    // Like `| head -1` once head has exited: every write to the pipe fails
    // with EPIPE, where println! would panic.
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &Call);
}

#[test]
fn out_of_descriptors_it_waits_instead_of_spinning() {
    let mut server = Server::start(SERVER);
    let failure = "could not accept a call: Too many open files (os error 24)";
    survival::assert_out_of_descriptors_it_pauses(&mut server, &Call, failure);
}
