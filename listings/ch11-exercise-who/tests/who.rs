//! Exercise 11-1: `/who` is answered with the clients being served, in the
//! order they connected, whoever asks and however the others left.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use testkit::select_server::{round_trip, welcomed};
use testkit::{Client, Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch11-exercise-who");

/// What `/who` must be answered with, for these clients.
fn connected(clients: &[&Client]) -> String {
    let mut line = "connected:".to_string();
    for client in clients {
        line.push_str(&format!(" {}", client.local_addr()));
    }
    line + "\n"
}

/// Asks `/who` and returns the answer.
fn who(client: &mut Client) -> String {
    client.send_line("/who");
    client.read_line()
}

#[test]
fn a_client_alone_finds_itself() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    assert_eq!(who(&mut client), connected(&[&client]));
}

#[test]
fn every_client_sees_every_client_in_the_order_they_connected() {
    let mut server = Server::start(SERVER);
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..3 {
        clients.push(welcomed(&server));
        // Listed before its thread logs that it is connected.
        server.next_line();
    }
    let expected = connected(&clients.iter().collect::<Vec<_>>());
    for client in &mut clients {
        assert_eq!(who(client), expected);
    }
}

#[test]
fn other_lines_are_still_answered_ok() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    round_trip(&mut client, "/whom");
    round_trip(&mut client, " /who");
    round_trip(&mut client, "hello");
    // telnet's line ending is a line ending.
    client.send(b"/who\r\n");
    assert_eq!(client.read_line(), connected(&[&client]));
}

#[test]
fn a_client_that_leaves_is_no_longer_listed() {
    let mut server = Server::start(SERVER);
    let mut stays = welcomed(&server);
    server.next_line();
    let leaves = welcomed(&server);
    server.next_line();
    drop(leaves);
    assert!(server.next_line().ends_with(" disconnected"));
    assert_eq!(who(&mut stays), connected(&[&stays]));
}

#[test]
fn a_client_that_is_dropped_or_let_go_is_no_longer_listed() {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "10", "3"], &[]);
    let mut stays = welcomed(&server);
    server.next_line();
    // One resets its connection: dropped.
    let resets = welcomed(&server);
    server.next_line();
    resets.reset();
    assert!(server.next_line().contains(" dropped: "));
    // One sends a line too long: let go.
    let mut too_long = welcomed(&server);
    server.next_line();
    too_long.send(&[b'x'; 2000]);
    too_long.read_line();
    too_long.shutdown_write();
    assert!(server.next_line().ends_with(" let go: line too long"));
    assert_eq!(who(&mut stays), connected(&[&stays]));
    // One stays silent: let go after the idle time, while the one that
    // stays speaks up halfway through it.
    let mut silent = welcomed(&server);
    server.next_line();
    thread::sleep(Duration::from_millis(1500));
    round_trip(&mut stays, "still talking");
    silent.read_line();
    assert!(server.next_line().contains(" let go: idle for 3 s"));
    assert_eq!(who(&mut stays), connected(&[&stays]));
}

#[test]
fn a_client_that_never_reads_its_answers_does_not_hold_up_the_others() {
    let server = Server::start(SERVER);
    let mut polite = welcomed(&server);
    // The hog asks `/who` again and again and never reads: its thread
    // blocks writing the answers. A thread that held the list's lock
    // while writing would block every other `/who` with it.
    let mut hog = TcpStream::connect(server.addr()).expect("connect");
    hog.set_write_timeout(Some(Duration::from_millis(200)))
        .expect("write timeout");
    let started = Instant::now();
    let asks = "/who\n".repeat(1000);
    while hog.write_all(asks.as_bytes()).is_ok() {
        assert!(started.elapsed() < timeout(), "the hog never blocked");
    }
    // Now the hog's thread is stuck in write(), and so is the hog.
    thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    let answer = who(&mut polite);
    assert!(answer.starts_with("connected: "), "{answer}");
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "/who took {:?} while a client did not read",
        asked.elapsed()
    );
}
