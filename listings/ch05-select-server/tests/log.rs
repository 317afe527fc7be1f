//! Listing 5-1's log never stops or kills it: with its stdout a closed pipe
//! (`cargo run ... | head -1`), or a pipe nobody reads, it serves on.

use std::process::Command;

use testkit::select_server::{Visit, hear_welcome};
use testkit::survival;

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-select-server");

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
fn what_clients_send_never_reaches_the_log() {
    // An escape sequence would reach the operator's terminal, and a newline
    // could forge a line of log. The server logs addresses and reasons, and
    // no byte a client sent.
    let mut server = testkit::Server::start(SERVER);
    let mut client = server.connect();
    hear_welcome(&mut client);
    client.send(b"\x1b[31mred\nforged line\n");
    assert_eq!(client.read_line(), "OK ... \x1b[31mred\n");
    assert_eq!(client.read_line(), "OK ... forged line\n");
    drop(client);
    server.process().wait_for_stdout(" disconnected\n");
    let log = server.process().stdout();
    assert!(!log.contains('\x1b') && !log.contains("forged"), "{log}");
}
