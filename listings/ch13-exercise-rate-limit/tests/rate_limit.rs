//! Exercise 13-2: ten replies a second per client at most, the first at
//! once, no burst after a quiet spell, no client held up by another, and
//! no timer ticking for idle clients.

use std::thread;
use std::time::{Duration, Instant};

use testkit::{Client, Server, conventions, kernel};

const SERVER: &str = env!("CARGO_BIN_EXE_ch13-exercise-rate-limit");

/// Sends `count` lines in one write, and returns when each reply came,
/// checking that each is the right one.
fn flood(client: &mut Client, count: usize) -> Vec<Instant> {
    let lines: String = (0..count).map(|n| format!("line {n}\n")).collect();
    client.send(lines.as_bytes());
    (0..count)
        .map(|n| {
            assert_eq!(client.read_line(), format!("OK ... line {n}\n"));
            Instant::now()
        })
        .collect()
}

#[test]
fn every_line_is_answered_in_order_ten_a_second_at_most() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let sent = Instant::now();
    let replies = flood(&mut client, 11);
    // The first at once; ten intervals of 100 ms between the first and the
    // eleventh (a little less, for the clock's rounding).
    assert!(
        replies[0] - sent < Duration::from_millis(90),
        "the first reply took {:?}",
        replies[0] - sent
    );
    let spread = replies[10] - replies[0];
    assert!(
        spread >= Duration::from_millis(900),
        "11 replies in {spread:?}"
    );
}

#[test]
fn a_client_that_was_quiet_gets_no_burst() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    flood(&mut client, 2);
    // A quiet second: a clock that keeps counting the ticks it missed would
    // now owe the client ten replies at once.
    thread::sleep(Duration::from_millis(1200));
    let replies = flood(&mut client, 6);
    let spread = replies[5] - replies[0];
    assert!(
        spread >= Duration::from_millis(350),
        "6 replies in {spread:?} after a quiet second"
    );
}

#[test]
fn a_flood_from_one_client_does_not_hold_up_another() {
    let server = Server::start(SERVER);
    let mut flooder = server.connect();
    let mut other = server.connect();
    let lines: String = (0..20).map(|n| format!("flood {n}\n")).collect();
    flooder.send(lines.as_bytes());
    // The server is busy with the flood: it has answered its first line.
    assert_eq!(flooder.read_line(), "OK ... flood 0\n");
    let asked = Instant::now();
    other.send_line("me too");
    assert_eq!(other.read_line(), "OK ... me too\n");
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_millis(500),
        "another client's flood held this one up for {waited:?}"
    );
}

#[test]
fn with_every_client_quiet_the_server_sleeps() {
    let server = Server::start(SERVER);
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for client in &mut clients {
        flood(client, 3);
    }
    // A timer armed by the last replies may still fire once; then nothing
    // should wake the server.
    thread::sleep(Duration::from_millis(300));
    kernel::assert_asleep_during(server.pid(), Duration::from_secs(1));
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}
