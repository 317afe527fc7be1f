//! What chapter 1 asks of every server of this book ("What can go wrong"),
//! checked on this one: a log that nobody reads, or that nobody can read,
//! does not stop it, and running out of descriptors makes it wait instead
//! of spinning. How each is checked is in `testkit::survival`.
//! The exercise itself is checked by `idle_timeout.rs`.

use std::process::Command;

use testkit::survival::{self, Conversation};
use testkit::{Client, Server};

const SERVER: &str = env!("CARGO_BIN_EXE_ch03-exercise-idle-timeout");

/// One line, echoed, and the end.
struct Echo;

impl Conversation for Echo {
    fn ask(&self, client: &mut Client) {
        client.send_line("hello");
        client.shutdown_write();
    }

    /// The server echoes the line and hangs up; it logs both ends of the
    /// conversation.
    fn hear(&self, client: &mut Client) -> usize {
        assert_eq!(client.read_to_end(), b"hello\n");
        let peer = client.local_addr();
        format!("client {peer} is now connected\n").len()
            + format!("client {peer} hung up after 1 lines\n").len()
    }
}

#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    // Once the pipe is full, a write to it would wait for ever.
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Echo,
    );
}

#[test]
fn a_log_nobody_can_read_does_not_kill_the_server() {
    // Like `| head -1` once head has exited: every write to the pipe fails
    // with EPIPE, where println! would panic.
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &Echo);
}

#[test]
fn out_of_descriptors_it_waits_instead_of_spinning() {
    let mut server = Server::start(SERVER);
    let failure = format!(
        "could not accept a connection on {}: Too many open files (os \
         error 24)",
        server.addr()
    );
    survival::assert_out_of_descriptors_it_pauses(&mut server, &Echo, &failure);
}
