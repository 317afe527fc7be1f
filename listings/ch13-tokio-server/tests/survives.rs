//! What every server of the book survives (chapter 1), and Listing 13-1
//! too: a log nobody reads never stops it, a closed log never kills it, and
//! out of descriptors it pauses, then serves.

use std::process::Command;

use testkit::select_server::{self, hear_welcome, round_trip};
use testkit::survival::{self, Conversation};
use testkit::{Client, Server};

const SERVER: &str = env!("CARGO_BIN_EXE_ch13-tokio-server");

/// One client's visit: the welcome, one line answered, and the end.
struct Visit;

impl Conversation for Visit {
    /// The server logs the client when it comes and when it goes.
    fn hear(&self, client: &mut Client) -> usize {
        hear_welcome(client);
        round_trip(client, "one line");
        let peer = client.local_addr();
        format!("{peer} connected\n").len()
            + format!("{peer} disconnected\n").len()
    }
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &Visit);
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Visit,
    );
}

#[test]
fn out_of_descriptors_it_pauses_then_serves() {
    let mut server = Server::start(SERVER);
    survival::assert_out_of_descriptors_it_pauses(
        &mut server,
        &Visit,
        "could not accept a connection: Too many open files (os error 24)",
    );
}

#[test]
fn out_of_descriptors_a_busy_server_tries_again_rarely() {
    select_server::assert_out_of_descriptors_a_busy_server_tries_again_rarely(
        SERVER,
    );
}
