//! The checks for exercise 4-1. They fail on the unchanged starter and pass
//! once the server waits for whole frames, however they arrive.
//!
//! To send a frame in pieces and be sure the server has read each piece on
//! its own, a test waits until the kernel says that the server's socket has
//! nothing left to read (`testkit::tcp_queues`).

use testkit::tcp_queues::queues;
use testkit::{Client, Server, timeout, wait_until};

const SERVER: &str = env!("CARGO_BIN_EXE_ch04-exercise-read-frame");

/// `payload` after its length.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// Sends `bytes`, then waits until the server has read every one of them.
fn send_and_wait_until_read(
    server: &Server,
    client: &mut Client,
    bytes: &[u8],
) {
    client.send(bytes);
    let (ours, theirs) = (client.local_addr(), server.addr());
    let all_read = wait_until(timeout(), || {
        let delivered = queues(ours, theirs).is_some_and(|ours| ours.send == 0);
        delivered
            && queues(theirs, ours).is_some_and(|theirs| theirs.receive == 0)
    });
    assert!(
        all_read,
        "the server did not read the {} bytes",
        bytes.len()
    );
}

#[test]
fn a_frame_sent_in_one_piece_comes_back() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    client.send(&frame(b"hello, frames"));
    assert_eq!(client.read_exact(17), frame(b"hello, frames"));
}

#[test]
fn a_payload_sent_in_pieces_comes_back_whole() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let whole = frame(b"0123456789");
    send_and_wait_until_read(&server, &mut client, &whole[..7]);
    send_and_wait_until_read(&server, &mut client, &whole[7..10]);
    client.send(&whole[10..]);
    assert_eq!(client.read_exact(14), whole);
}

#[test]
fn a_header_sent_in_pieces_is_read_whole() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let whole = frame(b"split header");
    send_and_wait_until_read(&server, &mut client, &whole[..2]);
    client.send(&whole[2..]);
    assert_eq!(client.read_exact(whole.len()), whole);
}

#[test]
fn frames_sent_back_to_back_come_back_one_by_one() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let mut both = frame(b"first");
    both.extend(frame(b""));
    both.extend(frame(b"third one"));
    client.send(&both);
    assert_eq!(client.read_exact(both.len()), both);
}

#[test]
fn the_end_of_the_stream_between_frames_is_a_goodbye() {
    let mut server = Server::start(SERVER);
    let mut client = server.connect();
    client.send(&frame(b"one"));
    client.send(&frame(b"two"));
    client.shutdown_write();
    assert_eq!(
        client.read_to_end(),
        [frame(b"one"), frame(b"two")].concat()
    );
    server.next_line();
    assert_eq!(
        server.next_line(),
        format!("client {} hung up after 2 frames", client.local_addr())
    );
}

#[test]
fn the_end_of_the_stream_inside_a_frame_is_an_error() {
    for cut in [2, 7] {
        let mut server = Server::start(SERVER);
        let mut client = server.connect();
        send_and_wait_until_read(
            &server,
            &mut client,
            &frame(b"cut short")[..cut],
        );
        client.shutdown_write();
        client.expect_closed();
        server.process().wait_for_stderr(&format!(
            "client {}: hung up in the middle of a frame\n",
            client.local_addr()
        ));
    }
}

#[test]
fn a_frame_over_the_limit_is_refused_before_its_payload_is_read() {
    let mut server = Server::start(SERVER);
    let mut client = server.connect();
    client.send(&1_000_000u32.to_be_bytes());
    client.expect_closed();
    server.process().wait_for_stderr(&format!(
        "client {}: announced a frame of 1000000 bytes; the limit is 65536\n",
        client.local_addr()
    ));
}
