//! Listing 6-1 behaves as chapter 6 says: it answers every datagram, from
//! any number of senders, with `OK` and the whole message, and logs who
//! sent what. Some tests show UDP itself: message boundaries are kept, and
//! a buffer too small for a datagram loses the rest of it.

use std::net::UdpSocket;
use std::thread;

use testkit::udp::{client, receive};
use testkit::{Process, Server, Transcript, conventions};

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-udp-server");

#[test]
fn session_matches_the_book() {
    let mut server = Server::start(SERVER);
    let mut log = format!("listening on {}\n", server.addr());
    let first = client(server.addr());
    let second = client(server.addr());
    for (socket, message) in [
        (&first, "hello"),
        (&second, "hello from another socket"),
        (&first, "how are you?"),
    ] {
        socket.send(message.as_bytes()).expect("send");
        assert_eq!(receive(socket), format!("OK {message}").as_bytes());
        log.push_str(&server.next_line());
        log.push('\n');
    }
    Transcript::new("transcripts/session.console")
        .command("cargo run -p ch06-udp-server")
        .output(&log)
        .show_port(server.port(), 9999)
        .check();
}

#[test]
fn each_sender_gets_ok_and_its_message_and_is_logged() {
    let mut server = Server::start(SERVER);
    let socket = client(server.addr());
    socket.send(b"ping").expect("send");
    assert_eq!(receive(&socket), b"OK ping");
    assert_eq!(
        server.next_line(),
        format!("{} -- ping", socket.local_addr().expect("local_addr"))
    );
}

#[test]
fn many_clients_at_once_each_get_only_their_own_replies() {
    let server = Server::start(SERVER);
    let workers: Vec<_> = (0..20)
        .map(|number| {
            let socket = client(server.addr());
            thread::spawn(move || {
                for message in 0..50 {
                    let text = format!("client {number} message {message}");
                    socket.send(text.as_bytes()).expect("send");
                    assert_eq!(
                        receive(&socket),
                        format!("OK {text}").as_bytes()
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a client got a wrong reply");
    }
}

#[test]
fn an_empty_datagram_is_a_message_too() {
    let mut server = Server::start(SERVER);
    let socket = client(server.addr());
    assert_eq!(socket.send(b"").expect("send"), 0);
    assert_eq!(receive(&socket), b"OK ");
    assert_eq!(
        server.next_line(),
        format!("{} -- ", socket.local_addr().expect("local_addr"))
    );
}

#[test]
fn a_long_message_comes_back_whole() {
    // The original cut every reply to 100 bytes.
    let server = Server::start(SERVER);
    let socket = client(server.addr());
    let message = "0123456789".repeat(1000);
    socket.send(message.as_bytes()).expect("send");
    assert_eq!(receive(&socket), format!("OK {message}").as_bytes());
}

#[test]
fn the_reply_to_the_largest_datagram_is_cut_to_fit() {
    let server = Server::start(SERVER);
    let socket = client(server.addr());
    let message: Vec<u8> =
        (0..65_507).map(|index| (index % 251) as u8).collect();
    socket
        .send(&message)
        .expect("65,507 bytes fit in one datagram");
    let reply = receive(&socket);
    assert_eq!(reply.len(), 65_507);
    assert_eq!(&reply[..3], b"OK ");
    assert_eq!(reply[3..], message[..65_504]);
}

#[test]
fn message_boundaries_are_kept_two_sends_are_two_receives() {
    // Over TCP, two writes may arrive as one read. Over UDP, never.
    let server = Server::start(SERVER);
    let socket = client(server.addr());
    socket.send(b"one").expect("send");
    socket.send(b"two").expect("send");
    assert_eq!(receive(&socket), b"OK one");
    assert_eq!(receive(&socket), b"OK two");
}

#[test]
fn a_buffer_too_small_for_a_datagram_loses_the_rest_of_it() {
    let server = Server::start(SERVER);
    let socket = client(server.addr());
    socket.send(&[b'x'; 100]).expect("send");
    let mut small = [0u8; 10];
    assert_eq!(socket.recv(&mut small).expect("recv"), 10);
    assert_eq!(&small, b"OK xxxxxxx");
    // The other 93 bytes are gone: the next receive is the next datagram.
    socket.send(b"next").expect("send");
    assert_eq!(receive(&socket), b"OK next");
}

#[test]
fn bytes_that_are_not_text_come_back_as_they_were_sent() {
    let mut server = Server::start(SERVER);
    let socket = client(server.addr());
    socket.send(b"\xff\x00\xfe\n").expect("send");
    assert_eq!(receive(&socket), b"OK \xff\x00\xfe\n");
    // The log shows them escaped, on one line, without the line ending.
    assert!(server.next_line().ends_with(" -- \\xff\\x00\\xfe"));
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("local_addr");
    let run = Process::run(SERVER, [addr.to_string()], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not bind {addr}: Address already in use (os error 98)\n"
        )
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["--help"], &["127.0.0.1:0", "extra"]],
        "usage: ch06-udp-server [ADDR]",
    );
}
