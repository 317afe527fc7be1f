//! What Listing 11-1 already does and the exercise must keep doing. The
//! starter passes these.

use std::process::Command;

use testkit::select_server::{self, FULL, Visit, round_trip, welcomed};
use testkit::{Client, Server, survival};

const SERVER: &str = env!("CARGO_BIN_EXE_ch11-exercise-who");

#[test]
fn lines_are_answered_ok() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    round_trip(&mut client, "hello");
}

#[test]
fn a_line_too_long_is_told_why_after_the_replies_owed() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        SERVER,
    );
}

#[test]
fn the_client_after_max_clients_is_told_the_server_is_full() {
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "2"], &[]);
    let _clients: Vec<Client> = (0..2).map(|_| welcomed(&server)).collect();
    let mut third = server.connect();
    assert_eq!(third.read_line(), FULL);
}

#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Visit,
    );
}
