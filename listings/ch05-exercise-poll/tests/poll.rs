//! The checks for exercise 5-2, part 2: with poll() the server still does
//! everything Listing 5-1 does. The unchanged starter passes these; a change
//! that breaks them is not a solution.

use std::time::Duration;

use testkit::{Client, Server, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-exercise-poll");
const FULL: &str = "Sorry, the server is full. Try again later.\n";

fn welcomed(server: &Server) -> Client {
    let mut client = server.connect();
    assert_eq!(
        client.read_line(),
        "Welcome to php socket server version 1.0 \n"
    );
    client.read_line();
    client
}

#[test]
fn lines_are_answered_and_a_half_closed_client_gets_its_last_replies() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    client.send_line("hello");
    assert_eq!(client.read_line(), "OK ... hello\n");
    client.send(b"last\nwords");
    client.shutdown_write();
    assert_eq!(client.read_line(), "OK ... last\n");
    assert_eq!(client.read_line(), "OK ... words\n");
    client.expect_closed();
}

#[test]
fn a_client_that_resets_leaves_its_slot_to_the_next() {
    let mut server = Server::start(SERVER);
    let mut stays = welcomed(&server);
    server.next_line();
    let leaves = welcomed(&server);
    server.next_line();
    leaves.reset();
    assert!(server.next_line().contains(" dropped: could not read: "));
    stays.send_line("still served");
    assert_eq!(stays.read_line(), "OK ... still served\n");
    let newcomer = welcomed(&server);
    assert_eq!(
        server.next_line(),
        format!("slot 1: {} connected", newcomer.local_addr())
    );
}

#[test]
fn the_eleventh_client_is_told_the_server_is_full_and_the_server_sleeps() {
    let server = Server::start(SERVER);
    let _clients: Vec<Client> = (0..10).map(|_| welcomed(&server)).collect();
    let mut eleventh = server.connect();
    assert_eq!(eleventh.read_line(), FULL);
    eleventh.expect_closed();
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(used < Duration::from_millis(100), "{used:?}");
}
