//! The original's looping TCP server (its steps "create and bind" and
//! "listen", then the loop that replaces "accept" and "read and write"), doing
//! what chapter 3 says it does.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use testkit::php::{Original, php};
use testkit::tcp_queues::queues;
use testkit::{Client, Process, kernel, timeout, unused_port, wait_until};

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

/// Waits until the PHP server is back in accept(), asleep: where /proc shows
/// where a process sleeps, in accept() itself.
fn wait_until_back_in_accept(server: &Process) {
    if kernel::wchan_is_readable() {
        let in_accept = || kernel::is_blocked_in_accept(server.pid());
        assert!(wait_until(timeout(), in_accept), "PHP is not in accept()");
    } else {
        testkit::skip("where PHP sleeps: /proc/<pid>/wchan is not readable");
    }
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(100));
}

/// Nothing more has come from the server, not even the end of the stream:
/// a read would wait.
fn nothing_more_came(client: &mut Client) -> bool {
    client.is_silent_for(Duration::from_millis(1))
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
    wait_until_back_in_accept(&server);
    assert!(nothing_more_came(&mut first));

    // The next socket_accept() replaces $client, and PHP frees, so closes,
    // the first client's socket.
    let mut second = connect(port);
    second.send_line("two");
    assert_eq!(second.read_line(), "OK .. two\n");
    first.expect_closed();
    wait_until_back_in_accept(&server);
    assert!(nothing_more_came(&mut second));
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
    // The server is back in accept(), and the line stays unread in its
    // socket, unanswered.
    let server_end = SocketAddr::from(([127, 0, 0, 1], port));
    let unread = || queues(server_end, client.local_addr()).map(|q| q.receive);
    assert!(wait_until(timeout(), || unread() == Some(4)));
    wait_until_back_in_accept(&server);
    assert_eq!(unread(), Some(4));
    assert!(nothing_more_came(&mut client));
}
