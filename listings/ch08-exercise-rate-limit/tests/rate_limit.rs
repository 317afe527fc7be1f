//! The checks for exercise 8-2. They fail on the unchanged starter, which
//! serves every connection, and pass once the parent refuses an address
//! that opened too many connections too recently. Each test connects from
//! addresses of its own: Linux answers every 127.x.y.z on loopback, so a
//! socket bound to 127.0.0.2 before `connect` is a second client machine.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use testkit::{Client, Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-exercise-rate-limit");

/// Starts the server with ten slots, RATE_LIMIT=`rate` and
/// RATE_PEERS=`peers`, and reads its first lines.
fn start(rate: &str, peers: &str) -> Server {
    let mut server = Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[
            ("MAX_PROCS", "10"),
            ("RATE_LIMIT", rate),
            ("RATE_PEERS", peers),
        ],
    );
    assert_eq!(server.next_line(), "client slots: 10");
    assert!(server.next_line().starts_with("rate limit: "));
    server
}

/// Connects to the server from 127.0.0.`host`.
fn connect_from(server: &Server, host: u8) -> Client {
    let local = SocketAddr::from(([127, 0, 0, host], 0));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)
        .unwrap_or_else(|err| panic!("could not open a socket: {err}"));
    socket
        .bind(&local.into())
        .unwrap_or_else(|err| panic!("could not bind {local}: {err}"));
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .unwrap_or_else(|err| panic!("{local} could not connect: {err}"));
    Client::from_stream(socket.into())
}

/// Connects from 127.0.0.`host`, checks that a child serves it, and hangs
/// up.
fn assert_served(server: &Server, host: u8) {
    let mut client = connect_from(server, host);
    client.read_greeting_pid();
    client.send_line("hello");
    assert_eq!(client.read_line(), "hello\n");
}

/// Connects from 127.0.0.`host` and checks that it is refused: told why,
/// then hung up on. Returns the client, to learn its address.
fn assert_refused(server: &Server, host: u8, limit: &str) -> Client {
    let mut client = connect_from(server, host);
    assert_eq!(
        client.read_line(),
        format!(
            "too many connections from 127.0.0.{host}: {limit}, try again \
             later\n"
        )
    );
    client.expect_closed();
    client
}

#[test]
fn an_address_over_its_limit_is_told_why_and_hung_up_on() {
    let mut server = start("2/60", "100");
    assert_served(&server, 2);
    assert_served(&server, 2);
    let third = assert_refused(&server, 2, "at most 2 in 60s");
    let peer = third.local_addr();
    server
        .process()
        .wait_for_stdout(&format!("refused {peer}: too many connections\n"));
    // No child was forked for it: the parent logs every child it forks
    // before it accepts the next client.
    let log = server.process().stdout();
    assert!(!log.contains(&format!("serves {peer} ")), "{log}");
}

#[test]
fn each_address_has_a_limit_of_its_own() {
    let server = start("1/60", "100");
    assert_served(&server, 2);
    assert_refused(&server, 2, "at most 1 in 60s");
    assert_served(&server, 3);
    assert_served(&server, 4);
    assert_refused(&server, 3, "at most 1 in 60s");
}

#[test]
fn an_address_is_served_again_once_its_connections_leave_the_window() {
    let server = start("1/1", "100");
    let first = Instant::now();
    assert_served(&server, 2);
    // The window is on the server's clock: ask again every 100 ms until it
    // serves us. A refusal does not count as a connection, or a client
    // that keeps asking would never be served again.
    let deadline = Instant::now() + timeout();
    loop {
        let mut client = connect_from(&server, 2);
        let line = client.read_line();
        if line.starts_with("You are connected to process ") {
            break;
        }
        assert!(line.starts_with("too many connections"), "{line:?}");
        assert!(
            Instant::now() < deadline,
            "still refused after {:?}",
            timeout()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let waited = first.elapsed();
    assert!(waited >= Duration::from_secs(1), "served after {waited:?}");
}

#[test]
fn the_table_of_addresses_is_bounded_and_forgets_the_oldest() {
    // Room for two addresses.
    let server = start("1/60", "2");
    assert_served(&server, 2);
    assert_served(&server, 3);
    // A third address: 127.0.0.2, seen longest ago, is forgotten.
    assert_served(&server, 4);
    // So 127.0.0.2 starts afresh, and 127.0.0.3 is forgotten.
    assert_served(&server, 2);
    assert_refused(&server, 4, "at most 1 in 60s");
    assert_refused(&server, 2, "at most 1 in 60s");
}
