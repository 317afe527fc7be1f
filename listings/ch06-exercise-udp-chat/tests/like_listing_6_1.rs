//! What the starter (Listing 6-1) already does right, and the solution must
//! keep doing: it answers neither its own address nor a reply, so that two
//! rooms cannot keep each other busy; it escapes what clients send in its
//! log; and its log never stops it. The starter passes these; the
//! exercise's own checks are in `udp_chat.rs`.
//!
//! Every server here logs through a pipe of which the test keeps 64 KiB,
//! and is killed when its test ends, so that even a server caught in a loop
//! cannot fill the memory or the disk.

mod common;

use std::net::UdpSocket;
use std::process::Stdio;

use common::{LoggedServer, assert_quiet, socket_of, start_with_stdout};
use testkit::{Server, skip, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-exercise-udp-chat");

/// A client socket on loopback, connected to `server`, with timeouts.
fn client(server: std::net::SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(server).expect("connect");
    socket
        .set_read_timeout(Some(timeout()))
        .expect("read timeout");
    socket
}

/// Receives one datagram (the whole of it) and returns it.
fn receive(socket: &UdpSocket) -> Vec<u8> {
    let mut buffer = vec![0u8; 65_536];
    let received = socket
        .recv(&mut buffer)
        .expect("a reply within the timeout");
    buffer.truncate(received);
    buffer
}

#[test]
fn a_datagram_forged_with_the_servers_own_address_is_not_answered() {
    let mut server = LoggedServer::start(SERVER);
    let own = match socket_of(server.pid()) {
        Ok(socket) => socket,
        Err(why) => return skip(&why),
    };
    own.send_to(b"hello", server.addr()).expect("send_to");
    server.wait_for_lines(2);
    assert_quiet(&[&server]);
    assert_eq!(
        server.lines(),
        [
            format!("listening on {}", server.addr()),
            format!(
                "{} -- hello (not answered: it comes from this server's \
                 own address)",
                server.addr()
            ),
        ]
    );
}

/// One datagram forged with the address of another room, and each answers
/// at most once.
#[test]
fn two_rooms_pointed_at_each_other_answer_at_most_once() {
    let mut first = LoggedServer::start(SERVER);
    let mut second = LoggedServer::start(SERVER);
    let forger = match socket_of(second.pid()) {
        Ok(socket) => socket,
        Err(why) => return skip(&why),
    };
    // "hello", to the first server, from the second server's address.
    forger.send_to(b"hello", first.addr()).expect("send_to");
    first.wait_for_lines(2);
    second.wait_for_lines(2);
    assert_quiet(&[&first, &second]);
    // The first answers the request; the second does not answer the reply.
    assert_eq!(first.lines()[1..], [format!("{} -- hello", second.addr())]);
    assert_eq!(
        second.lines()[1..],
        [format!(
            "{} -- OK hello (not answered: it is a reply)",
            first.addr()
        )]
    );
}

#[test]
fn a_datagram_that_looks_like_a_reply_is_not_answered() {
    let mut server = Server::start(SERVER);
    let socket = client(server.addr());
    let me = socket.local_addr().expect("local_addr");
    socket.send(b"OK hello").expect("send");
    socket.send(b"hello").expect("send");
    // The first datagram to come back answers the second: had the server
    // answered the first, `OK OK hello` would have come first.
    assert_eq!(receive(&socket), b"OK hello");
    assert_eq!(
        server.next_line(),
        format!("{me} -- OK hello (not answered: it is a reply)")
    );
    assert_eq!(server.next_line(), format!("{me} -- hello"));
}

#[test]
fn what_a_client_sends_is_escaped_in_the_log_on_one_line() {
    let mut server = Server::start(SERVER);
    let socket = client(server.addr());
    let me = socket.local_addr().expect("local_addr");
    socket.send(b"\x1b[31mred\nforged line").expect("send");
    assert_eq!(receive(&socket), b"OK \x1b[31mred\nforged line");
    assert_eq!(
        server.next_line(),
        format!("{me} -- \\x1b[31mred\\nforged line")
    );
}

#[test]
fn a_long_message_is_cut_in_the_log_but_not_in_the_reply() {
    let mut server = Server::start(SERVER);
    let socket = client(server.addr());
    let me = socket.local_addr().expect("local_addr");
    let message = [b'x'; 1000];
    socket.send(&message).expect("send");
    assert_eq!(receive(&socket), [&b"OK "[..], &message].concat());
    assert_eq!(
        server.next_line(),
        format!("{me} -- {}... (1000 bytes)", "x".repeat(512))
    );
}

/// Sends `count` messages of `size` bytes, and one as large as a datagram
/// can be, all of bytes that the log must escape, and checks that each is
/// answered: far more log than a pipe holds.
fn assert_serves_many(server: std::net::SocketAddr, count: usize, size: usize) {
    let socket = client(server);
    let largest = vec![0xff; 65_507];
    socket.send(&largest).expect("send");
    let reply = receive(&socket);
    assert_eq!(reply[..3], *b"OK ");
    for number in 0..count {
        let message = vec![b'\x1b'.wrapping_add(number as u8); size];
        socket.send(&message).expect("send");
        assert_eq!(receive(&socket), [&b"OK "[..], &message].concat());
    }
}

#[test]
fn the_server_goes_on_when_its_log_is_a_closed_pipe() {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    let (mut server, addr) = start_with_stdout(SERVER, Stdio::from(writer));
    assert_serves_many(addr, 200, 1000);
    assert!(!server.has_exited(), "{}", server.stderr());
}

#[test]
fn the_server_goes_on_when_nobody_reads_its_log() {
    let (_reader, writer) = nix::unistd::pipe().expect("pipe");
    let (mut server, addr) = start_with_stdout(SERVER, Stdio::from(writer));
    assert_serves_many(addr, 200, 1000);
    assert!(!server.has_exited(), "{}", server.stderr());
}
