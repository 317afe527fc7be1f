//! Exercise 13-1: every line goes to every other client; a client that
//! falls too far behind is told so, and let go.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use testkit::{Client, Server, conventions, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch13-exercise-broadcast-chat");

/// Connects a client and reads its welcome: from then on it is in the room.
fn join(server: &Server) -> Client {
    let mut client = server.connect();
    let welcome = format!("Welcome, {}\n", client.local_addr());
    assert_eq!(client.read_line(), welcome);
    client
}

/// Sends `line` and reads the server's `OK ... <line>`: by then the room
/// has it.
fn say(client: &mut Client, line: &str) {
    client.send_line(line);
    assert_eq!(client.read_line(), format!("OK ... {line}\n"));
}

#[test]
fn a_line_reaches_every_other_client_once() {
    let server = Server::start(SERVER);
    let mut ada = join(&server);
    let mut ken = join(&server);
    let mut bob = join(&server);
    say(&mut ada, "hello, all");
    let from_ada = format!("{}: hello, all\n", ada.local_addr());
    assert_eq!(ken.read_line(), from_ada);
    assert_eq!(bob.read_line(), from_ada);
    // Not back to the one who said it, and not twice.
    for client in [&mut ada, &mut ken, &mut bob] {
        assert!(client.is_silent_for(Duration::from_millis(100)));
    }
}

#[test]
fn a_client_hears_only_what_is_said_after_it_joined() {
    let server = Server::start(SERVER);
    let mut ada = join(&server);
    say(&mut ada, "before ken came");
    let mut ken = join(&server);
    say(&mut ada, "after ken came");
    assert_eq!(
        ken.read_line(),
        format!("{}: after ken came\n", ada.local_addr())
    );
}

#[test]
fn the_room_goes_on_when_a_client_leaves() {
    let server = Server::start(SERVER);
    let mut ada = join(&server);
    let ken = join(&server);
    let mut bob = join(&server);
    drop(ken);
    say(&mut ada, "is ken gone?");
    assert_eq!(
        bob.read_line(),
        format!("{}: is ken gone?\n", ada.local_addr())
    );
    say(&mut bob, "yes");
    assert_eq!(ada.read_line(), format!("{}: yes\n", bob.local_addr()));
}

#[test]
fn a_client_that_falls_too_far_behind_is_told_and_let_go() {
    let server = Server::start(SERVER);
    // The sleeper never reads while the room talks: its receive buffer is
    // small, and the server's send buffer for it fills too.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .expect("connect");
    let mut sleeper = BufReader::new(TcpStream::from(socket));
    sleeper
        .get_ref()
        .set_read_timeout(Some(timeout()))
        .expect("read timeout");
    let mut welcome = String::new();
    sleeper.read_line(&mut welcome).expect("the welcome");
    let mut talker = join(&server);
    let mut listener = join(&server);

    // 16 MB in batches of 32 lines: the listener reads each batch before
    // the next is sent, so it never falls more than 32 lines behind.
    let line = "t".repeat(999);
    let batch = format!("{line}\n").repeat(32);
    let from_talker = format!("{}: {line}\n", talker.local_addr());
    for _ in 0..500 {
        talker.send(batch.as_bytes());
        for _ in 0..32 {
            assert_eq!(talker.read_line(), format!("OK ... {line}\n"));
        }
        for _ in 0..32 {
            assert_eq!(listener.read_line(), from_talker);
        }
    }

    // The sleeper wakes up: some of the lines, then the reason, then the
    // end of the stream.
    let mut heard = 0;
    let goodbye = loop {
        let mut received = String::new();
        let read = sleeper.read_line(&mut received).expect("a line");
        assert!(read > 0, "the sleeper was let go without a word");
        if received != from_talker {
            break received;
        }
        heard += 1;
    };
    assert!(heard < 16_000, "the sleeper heard all {heard} lines");
    let missed: usize = goodbye
        .strip_prefix("Sorry, you fell ")
        .and_then(|rest| rest.strip_suffix(" lines behind. Goodbye.\n"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("not the goodbye: {goodbye:?}"));
    assert!(missed > 0);
    let mut rest = String::new();
    assert_eq!(sleeper.read_line(&mut rest).expect("end of stream"), 0);

    // The others never noticed.
    say(&mut talker, "still here?");
    assert_eq!(
        listener.read_line(),
        format!("{}: still here?\n", talker.local_addr())
    );
    let _ = sleeper.get_mut().flush();
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}
