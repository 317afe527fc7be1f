//! The original's looping TCP server (its steps "create and bind" and
//! "listen", then the loop that replaces "accept" and "read and write"), doing
//! what chapter 3 says it does.

use std::process::Command;
use std::time::Duration;

use testkit::php::{Original, php};
use testkit::{Client, Process, kernel, unused_port};

/// The original's loop server, on a free port instead of 5000. The loop
/// accepts by itself, so the single `socket_accept()` of the "accept" step
/// is not part of this program: with it, the first client would be accepted
/// and then never read.
fn original_loop_server(port: u16) -> Original {
    Original::of(&[
        "09-tcp-server-create-bind",
        "10-tcp-server-listen",
        "13-tcp-server-loop",
    ])
    .edit("5000", &port.to_string(), 1)
}

fn connect(port: u16) -> Client {
    Client::connect(([127, 0, 0, 1], port).into())
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-loop-never-closes.
#[test]
fn the_original_loop_closes_a_connection_only_when_the_next_client_comes() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let server = php.spawn(&original_loop_server(port), &[]);
    server.wait_for_stdout("Socket listen OK");

    let mut first = connect(port);
    first.send_line("one");
    assert_eq!(first.read_line(), "OK .. one\n");
    // Answered, but not closed: the server is back in accept(), and the
    // connection stays open.
    assert!(first.is_silent_for(Duration::from_millis(300)));

    // The next socket_accept() replaces $client, and PHP frees, so closes,
    // the first client's socket.
    let mut second = connect(port);
    second.send_line("two");
    assert_eq!(second.read_line(), "OK .. two\n");
    first.expect_closed();
    assert!(second.is_silent_for(Duration::from_millis(300)));
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-loop-never-closes: Listing
/// 3-1, which reads until the server closes, gets its answer from the
/// original's loop and still waits, until another client arrives.
#[test]
fn our_client_waits_on_the_original_loop_until_the_next_client_comes() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let server = php.spawn(&original_loop_server(port), &[]);
    server.wait_for_stdout("Socket listen OK");

    let mut command = Command::new(testkit::bin("ch03-tcp-client"));
    command.args(["127.0.0.1", &port.to_string()]);
    let mut client = Process::spawn(command);
    client.close_stdin();
    client.wait_for_stdout("OK .. GET / HTTP/1.1\r\n");
    // It has the whole answer, and sleeps in read() waiting for the end.
    kernel::assert_asleep_during(client.pid(), Duration::from_millis(300));
    assert!(!client.has_exited());

    let _next = connect(port);
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "OK .. GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
    );
}

/// What "can interact only once" means: each client of the original's loop
/// gets one answer, to what its first read returned, and nothing more.
#[test]
fn each_client_of_the_original_loop_gets_one_answer() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let server = php.spawn(&original_loop_server(port), &[]);
    server.wait_for_stdout("Socket listen OK");

    let mut client = connect(port);
    client.send_line("one");
    assert_eq!(client.read_line(), "OK .. one\n");
    client.send_line("two");
    assert!(client.is_silent_for(Duration::from_millis(300)));
}
