//! Listing 3-3 behaves as chapter 3 says: it answers clients one after
//! another with `OK .. <line>` and closes each connection; a client that
//! fails does not stop it; and a client that takes its time makes the next
//! one wait.

use std::net::SocketAddr;
use std::time::Duration;

use testkit::tcp_queues::queues;
use testkit::{Server, Transcript, conventions, kernel, timeout, wait_until};

const SERVER: &str = env!("CARGO_BIN_EXE_ch03-tcp-server-loop");

/// One short session, as chapter 10's benchmark runs them: connect, send a
/// line, read the reply, and see the server close.
fn ask(server: &Server, line: &str) -> String {
    let mut client = server.connect();
    client.send_line(line);
    let reply = client.read_line();
    client.expect_closed();
    reply
}

#[test]
fn serves_clients_one_after_another() {
    let mut server = Server::start(SERVER);
    let mut output = format!("listening on {}\n", server.addr());
    for word in ["first", "second"] {
        let mut client = server.connect();
        client.send_line(word);
        assert_eq!(client.read_line(), format!("OK .. {word}\n"));
        client.expect_closed();
        let logged = server.next_line();
        assert_eq!(
            logged,
            format!("client {} is now connected", client.local_addr())
        );
        output.push_str(&logged);
        output.push('\n');
    }
    Transcript::new("transcripts/two-clients.console")
        .command("cargo run -p ch03-tcp-server-loop")
        .output(&output)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn many_short_sessions_in_a_row_are_all_answered() {
    let server = Server::start(SERVER);
    for number in 0..200 {
        assert_eq!(
            ask(&server, &format!("line {number}")),
            format!("OK .. line {number}\n")
        );
    }
}

// ANCHOR: second_client_waits
#[test]
fn a_second_client_waits_while_the_first_is_connected() {
    let mut server = Server::start(SERVER);
    let mut first = server.connect();
    assert_eq!(
        server.next_line(),
        format!("client {} is now connected", first.local_addr())
    );

    // The second client's connect() succeeds at once: the kernel finished the
    // handshake and queued the connection. Its line arrives, and waits.
    let mut second = server.connect();
    second.send_line("me too");
    let unread =
        || queues(server.addr(), second.local_addr()).map(|q| q.receive);
    assert!(wait_until(timeout(), || unread() == Some(7)));

    // The server sleeps, in read() on the first client. Nobody accepts the
    // second connection, still in the listen queue, or reads its line.
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(300));
    assert_eq!(waiting_to_be_accepted(server.addr()), Some(1));
    assert_eq!(unread(), Some(7));

    // The moment the first client is done, the server gets to the second.
    first.send_line("done");
    assert_eq!(first.read_line(), "OK .. done\n");
    assert_eq!(second.read_line(), "OK .. me too\n");
    assert_eq!(
        server.next_line(),
        format!("client {} is now connected", second.local_addr())
    );
}

/// How many connections wait in the listen queue of the socket listening
/// on `addr`: /proc/net/tcp shows it as the receive queue of a listener.
fn waiting_to_be_accepted(addr: SocketAddr) -> Option<usize> {
    let anyone = SocketAddr::from(([0, 0, 0, 0], 0));
    queues(addr, anyone).map(|listener| listener.receive)
}
// ANCHOR_END: second_client_waits

#[test]
fn a_client_that_resets_is_reported_and_the_next_is_served() {
    let mut server = Server::start(SERVER);
    let mut rude = server.connect();
    let rude_addr = rude.local_addr();
    server.next_line();
    rude.send(b"half a li");
    rude.reset();
    server.process().wait_for_stderr(&format!(
        "could not read from {rude_addr}: Connection reset by peer \
         (os error 104)\n"
    ));
    assert_eq!(ask(&server, "still there?"), "OK .. still there?\n");
}

#[test]
fn lines_ended_by_a_half_close_empty_or_not_utf8_are_answered() {
    let server = Server::start(SERVER);
    for (sent, answer) in [
        (&b"no newline"[..], &b"OK .. no newline\n"[..]),
        (b"", b"OK .. \n"),
        (b"\r\n", b"OK .. \n"),
        (b"caf\xe9\n", b"OK .. caf\xe9\n"),
    ] {
        let mut client = server.connect();
        client.send(sent);
        client.shutdown_write();
        assert_eq!(client.read_to_end(), answer, "{sent:?}");
    }
}

#[test]
fn an_over_long_line_gets_an_error_and_the_server_goes_on() {
    let mut server = Server::start(SERVER);
    let mut client = server.connect();
    client.send(&[b'x'; 1025]);
    assert_eq!(client.read_line(), "ERROR line longer than 1024 bytes\n");
    server.process().wait_for_stderr(&format!(
        "client {} sent a line longer than 1024 bytes\n",
        client.local_addr()
    ));
    assert_eq!(ask(&server, "short"), "OK .. short\n");
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"]],
        "usage: ch03-tcp-server-loop [ADDR]",
    );
}
