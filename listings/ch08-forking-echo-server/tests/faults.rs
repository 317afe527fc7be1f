//! Listing 8-1 under faults: its parent killed in the middle of a session,
//! no descriptor left for accept(), a log nobody reads, and a hostile
//! client's bytes. The checks shared with chapter 9's server and the
//! exercises are the test kit's (`testkit::forking`, `testkit::survival`).

use std::process::Command;

use testkit::forking::{self, Visit};
use testkit::{Server, survival};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-forking-echo-server");

/// Starts the server with MAX_PROCS set and reads its first two lines.
fn start(max_procs: usize) -> Server {
    let max_procs = max_procs.to_string();
    let mut server = Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs)],
    );
    assert_eq!(server.next_line(), format!("client slots: {max_procs}"));
    server
}

/// The server, with two slots, for the survival checks (which add its
/// address).
fn command() -> Command {
    let mut command = Command::new(SERVER);
    command.env("MAX_PROCS", "2");
    command
}

#[test]
fn children_end_with_their_parent_even_when_it_is_killed() {
    forking::assert_children_end_with_their_parent(|| start(2));
}

#[test]
fn out_of_descriptors_the_parent_pauses_and_serves_again_when_it_can() {
    let failure =
        "could not accept a client: Too many open files (os error 24)";
    survival::assert_out_of_descriptors_it_pauses(
        &mut start(2),
        &Visit,
        failure,
    );
}

#[test]
fn a_log_nobody_reads_neither_stops_nor_kills_the_server() {
    // A pipe that nobody reads, then one whose reader is gone.
    survival::assert_a_log_nobody_reads_never_stops(command(), &Visit);
    survival::assert_a_closed_log_never_kills(command(), &Visit);
}

#[test]
fn a_clients_bytes_never_reach_the_log() {
    let mut server = start(2);
    let mut client = server.connect();
    let child = client.read_greeting_pid();
    client.send(b"\x1b[31mred\nforged line\n");
    client.read_line();
    client.read_line();
    drop(client);
    server.next_line();
    assert_eq!(
        server.next_line(),
        format!("child {child} is done (0 of 2 busy)")
    );
    let log = server.process().stdout() + &server.process().stderr();
    assert!(!log.contains('\x1b') && !log.contains("forged"), "{log:?}");
}

/// Each reply is written at once, in one call, so it leaves in one TCP
/// segment.
#[test]
fn each_reply_arrives_in_one_segment() {
    let server = start(2);
    forking::assert_each_reply_arrives_in_one_segment(&mut server.connect());
}
