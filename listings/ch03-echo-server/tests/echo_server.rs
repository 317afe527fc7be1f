//! Listing 3-4 behaves as chapter 3 says: it sends every line back exactly as
//! it came, until the client hangs up; it waits for a whole line however it
//! arrives; it bounds the line; and one client's failure does not stop it.

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::time::Duration;

use testkit::tcp_queues::queues;
use testkit::{
    Client, Process, Server, Transcript, conventions, kernel, timeout,
    wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch03-echo-server");

#[test]
fn echoes_every_line_until_the_client_hangs_up() {
    let mut server = Server::start(SERVER);
    let mut output = format!("listening on {}\n", server.addr());
    let mut client = server.connect();
    for line in ["hello", "world", "bye"] {
        client.send_line(line);
        assert_eq!(client.read_line(), format!("{line}\n"));
    }
    client.shutdown_write();
    client.expect_closed();
    for _ in 0..2 {
        output.push_str(&server.next_line());
        output.push('\n');
    }
    assert_eq!(
        output,
        format!(
            "listening on {}\nclient {1} is now connected\nclient {1} hung up after 3 lines\n",
            server.addr(),
            client.local_addr()
        )
    );
    Transcript::new("transcripts/one-client.console")
        .command("cargo run -p ch03-echo-server")
        .output(&output)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn line_endings_empty_lines_and_raw_bytes_come_back_unchanged() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let sent: &[u8] = b"telnet\r\n\n\xff\xfe not UTF-8\n";
    client.send(sent);
    client.shutdown_write();
    assert_eq!(client.read_to_end(), sent);
}

#[test]
fn a_line_that_arrives_in_pieces_is_echoed_once_it_is_whole() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let (ours, theirs) = (client.local_addr(), server.addr());
    client.send(b"hel");
    // Half a line: the server reads it, sends nothing back, and sleeps
    // until the rest comes.
    assert!(wait_until(timeout(), || {
        queues(ours, theirs).is_some_and(|q| q.send == 0)
            && queues(theirs, ours).is_some_and(|q| q.receive == 0)
    }));
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(200));
    assert_eq!(queues(ours, theirs).map(|q| q.receive), Some(0));
    client.send(b"lo\n");
    assert_eq!(client.read_line(), "hello\n");
}

#[test]
fn a_last_line_without_a_newline_is_echoed_before_the_server_hangs_up() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    client.send(b"one\ntwo");
    client.shutdown_write();
    assert_eq!(client.read_to_end(), b"one\ntwo");
}

#[test]
fn a_line_of_1024_bytes_is_echoed() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let line = "y".repeat(1024);
    client.send_line(&line);
    assert_eq!(client.read_line(), format!("{line}\n"));
}

#[test]
fn a_longer_line_gets_an_error_and_the_connection_ends() {
    let mut server = Server::start(SERVER);
    let mut client = server.connect();
    client.send_line("fine");
    assert_eq!(client.read_line(), "fine\n");
    client.send(&[b'z'; 5000]);
    assert_eq!(client.read_line(), "ERROR line longer than 1024 bytes\n");
    // Then the server hangs up. If our other bytes were still unread in its
    // kernel, closing sends a reset instead of the end of the stream.
    let mut rest = Vec::new();
    match client.stream().read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "nothing more after the error"),
        Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset),
    }
    server.process().wait_for_stderr(&format!(
        "client {} sent a line longer than 1024 bytes; hanging up\n",
        client.local_addr()
    ));

    // The server itself goes on.
    let mut next = server.connect();
    next.send_line("next");
    assert_eq!(next.read_line(), "next\n");
}

#[test]
fn a_client_that_resets_is_reported_and_the_next_is_served() {
    let mut server = Server::start(SERVER);
    let mut rude = server.connect();
    let rude_addr = rude.local_addr();
    rude.send(b"half a li");
    server.next_line();
    rude.reset();
    server.process().wait_for_stderr(&format!(
        "could not read from {rude_addr}: Connection reset by peer (os error 104)\n"
    ));
    let mut polite = server.connect();
    polite.send_line("hi");
    assert_eq!(polite.read_line(), "hi\n");
}

#[test]
fn the_next_client_waits_until_the_first_hangs_up() {
    let server = Server::start(SERVER);
    let mut first = server.connect();
    first.send_line("one");
    assert_eq!(first.read_line(), "one\n");
    let mut second = server.connect();
    second.send_line("two");
    // The server sleeps in read() on the first client; the second waits in
    // the listen queue, its line unread.
    let unread =
        || queues(server.addr(), second.local_addr()).map(|q| q.receive);
    assert!(wait_until(timeout(), || unread() == Some(4)));
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(200));
    assert_eq!(waiting_to_be_accepted(server.addr()), Some(1));
    assert_eq!(unread(), Some(4));
    drop(first);
    assert_eq!(second.read_line(), "two\n");
}

/// How many connections wait in the listen queue of the socket listening
/// on `addr`: /proc/net/tcp shows it as the receive queue of a listener.
fn waiting_to_be_accepted(addr: SocketAddr) -> Option<usize> {
    let anyone = SocketAddr::from(([0, 0, 0, 0], 0));
    queues(addr, anyone).map(|listener| listener.receive)
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn a_name_is_resolved_and_a_bad_address_reported() {
    let server = Server::start_with(SERVER, ["localhost:0"], &[]);
    assert!(server.addr().ip().is_loopback());
    let mut client: Client = server.connect();
    client.send_line("via localhost");
    assert_eq!(client.read_line(), "via localhost\n");

    let run = Process::run(SERVER, ["localhost:http"], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        "could not resolve localhost:http: invalid port value\n"
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"], &["-h"]],
        "usage: ch03-echo-server [ADDR]",
    );
}
