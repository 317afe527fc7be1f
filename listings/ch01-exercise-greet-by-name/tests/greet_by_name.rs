//! The checks for exercise 1-2. They fail on the unchanged starter and pass
//! once the server reads the caller's name and greets it.

use testkit::{Client, Server};

const SERVER: &str = env!("CARGO_BIN_EXE_ch01-exercise-greet-by-name");

/// Sends `said` on a new connection, half-closes, and returns the reply.
fn call(server: &Server, said: &[u8]) -> String {
    let mut client: Client = server.connect();
    client.send(said);
    client.shutdown_write();
    String::from_utf8_lossy(&client.read_to_end()).into_owned()
}

#[test]
fn greets_the_caller_by_the_name_it_sends() {
    let server = Server::start(SERVER);
    assert_eq!(call(&server, b"Ada\n"), "Hello, Ada!\n");
}

#[test]
fn the_server_answers_before_the_caller_hangs_up() {
    // The caller keeps its side open: the newline alone ends the name.
    let server = Server::start(SERVER);
    let mut client = server.connect();
    client.send_line("Ken");
    assert_eq!(client.read_line(), "Hello, Ken!\n");
    client.expect_closed();
}

#[test]
fn a_telnet_line_ending_is_not_part_of_the_name() {
    let server = Server::start(SERVER);
    assert_eq!(call(&server, b"Grace\r\n"), "Hello, Grace!\n");
}

#[test]
fn a_name_without_a_newline_ends_where_the_caller_stops_sending() {
    let server = Server::start(SERVER);
    assert_eq!(call(&server, b"Linus"), "Hello, Linus!\n");
}

#[test]
fn a_caller_who_says_nothing_is_a_stranger() {
    let server = Server::start(SERVER);
    assert_eq!(call(&server, b""), "Hello, stranger!\n");
    assert_eq!(call(&server, b"\n"), "Hello, stranger!\n");
}

#[test]
fn callers_are_answered_one_after_another() {
    let server = Server::start(SERVER);
    assert_eq!(call(&server, b"Barbara\n"), "Hello, Barbara!\n");
    assert_eq!(call(&server, b"Dennis\n"), "Hello, Dennis!\n");
}

#[test]
fn a_name_ends_after_64_bytes_even_without_a_newline() {
    // The caller has sent 64 bytes and no newline, and keeps the connection
    // open: its name may never end. The server must not wait for more.
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let long = "a".repeat(64);
    client.send(long.as_bytes());
    assert_eq!(client.read_line(), format!("Hello, {long}!\n"));
    client.expect_closed();
}

#[test]
fn a_name_of_63_bytes_is_whole() {
    let server = Server::start(SERVER);
    let name = "b".repeat(63);
    assert_eq!(
        call(&server, format!("{name}\n").as_bytes()),
        format!("Hello, {name}!\n")
    );
}
