//! Listing 11-1's log never stops or kills it: with its stdout a closed pipe
//! (`cargo run ... | head -1`), or a pipe nobody reads, it serves on. Only
//! the log's writer thread ever waits for the pipe.

use std::process::Command;

use testkit::select_server::{Visit, hear_welcome};
use testkit::{Server, survival};

const SERVER: &str = env!("CARGO_BIN_EXE_ch11-thread-per-connection");

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
    let mut server = Server::start(SERVER);
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
