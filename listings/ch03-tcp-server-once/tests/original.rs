//! The original's TCP server (its steps "create and bind", "listen",
//! "accept" and "read and write", run as one program), doing what chapter 3
//! says it does.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use testkit::php::{Original, php};
use testkit::{Client, Transcript, timeout, unused_port, wait_until};

/// The original's server, on a free port instead of 5000. It binds
/// 127.0.0.1 already, so the port is the only edit.
fn original_server(port: u16) -> Original {
    Original::of(&[
        "09-tcp-server-create-bind",
        "10-tcp-server-listen",
        "11-tcp-server-accept",
        "12-tcp-server-read-write",
    ])
    .edit("5000", &port.to_string(), 1)
}

/// The PHP server prints the client's address as `$address : $port`, which
/// the transcript checker does not take for an address and port: show the
/// client's ephemeral port as one fixed number, as `show_port` does for
/// `ip:port`.
fn show_client_port(output: &str, client: SocketAddr) -> String {
    output.replace(
        &format!("{} : {} ", client.ip(), client.port()),
        &format!("{} : 60134 ", client.ip()),
    )
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-reply-twice.
#[test]
fn the_original_writes_its_reply_twice() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let mut server = php.spawn(&original_server(port), &[]);
    server.wait_for_stdout("Waiting for incoming connections");
    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    client.send(b"hello\n");
    let reply = String::from_utf8_lossy(&client.read_to_end()).into_owned();
    assert_eq!(reply, "OK .. hello\nOK .. hello\n");
    assert!(wait_until(timeout(), || server.has_exited()));
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-reply-twice: one
/// `socket_read()` is one `recv()`, which returns what has arrived so far.
#[test]
fn the_original_answers_the_first_piece_of_a_line_alone() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let mut server = php.spawn(&original_server(port), &[]);
    server.wait_for_stdout("Waiting for incoming connections");
    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    // The first piece of the line; the rest would follow, but the server
    // answers and hangs up before it comes.
    client.send(b"hel");
    let reply = String::from_utf8_lossy(&client.read_to_end()).into_owned();
    assert_eq!(reply, "OK .. helOK .. hel");
    assert!(wait_until(timeout(), || server.has_exited()));
}

/// What the original's server prints: a line for each step, where
/// Listing 3-2 prints `listening on` and the client's address.
#[test]
fn the_original_reports_each_step_and_its_client() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let server = php.spawn(&original_server(port), &[]);
    server.wait_for_stdout("Waiting for incoming connections");
    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    client.send(b"hello\n");
    client.read_to_end();
    let run = server.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    let shown = client.local_addr();
    assert_eq!(
        run.stdout,
        format!(
            "Socket created \nSocket bind OK \nSocket listen OK \n\
             Waiting for incoming connections... \n\
             Client 127.0.0.1 : {} is now connected to us.",
            shown.port()
        )
    );
    Transcript::new("transcripts/original-server.console")
        .command("php tcp-server.php")
        .output(&show_client_port(&run.stdout, shown))
        .check();
}

/// The original listens with a backlog of 10 (`socket_listen($sock, 10)`);
/// chapter 3 says why Listing 3-2 keeps the standard library's 128. On
/// Linux, a backlog of 10 lets 11 connections wait for `accept()`.
#[test]
fn the_original_lets_eleven_connections_wait() {
    let Some(php) = php() else { return };
    let port = unused_port();
    // Stop the program after listen(): nothing ever accepts.
    let listening =
        Original::of(&["09-tcp-server-create-bind", "10-tcp-server-listen"])
            .edit("5000", &port.to_string(), 1)
            .then("<?php fgets(STDIN); ?>");
    let server = php.spawn(&listening, &[]);
    server.wait_for_stdout("Socket listen OK");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let waiting: Vec<Client> = (0..11).map(|_| Client::connect(addr)).collect();
    // The twelfth gets no answer: its SYN is dropped while the queue is full.
    let twelfth = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert!(twelfth.is_err(), "a twelfth connection was queued too");
    drop(waiting);
}
