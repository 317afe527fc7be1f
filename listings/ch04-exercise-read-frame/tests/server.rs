//! What the server around `read_frame` already does, starter and answer
//! alike, and must keep doing: it sends each frame back in one write, its
//! log never stops or kills it, and it pauses when it runs out of
//! descriptors instead of spinning (checked as `testkit::survival` checks
//! every server).

use std::process::Command;

use testkit::survival::{self, Conversation};
use testkit::{Client, Server, data_segments_received};

const SERVER: &str = env!("CARGO_BIN_EXE_ch04-exercise-read-frame");

/// `payload` after its length.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// Sends a frame and checks that it comes back.
fn round_trip(client: &mut Client, payload: &[u8]) {
    let sent = frame(payload);
    client.send(&sent);
    assert_eq!(client.read_exact(sent.len()), sent);
}

#[test]
fn each_frame_goes_back_in_one_segment() {
    // A length and a payload in two writes are two segments, and with
    // Nagle's algorithm the second waits for the first to be acknowledged:
    // some 40 ms a round trip (chapter 4, Listing 4-5).
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let before = data_segments_received(client.stream());
    for round in 0..10 {
        round_trip(&mut client, format!("frame {round}").as_bytes());
    }
    let after = data_segments_received(client.stream());
    assert_eq!(after - before, 10, "segments for 10 frames");
}

/// One frame, sent back, and the end.
struct OneFrame;

impl Conversation for OneFrame {
    fn ask(&self, client: &mut Client) {
        client.send(&frame(b"one frame"));
        client.shutdown_write();
    }

    /// The frame comes back; the server logs the client's arrival and
    /// departure.
    fn hear(&self, client: &mut Client) -> usize {
        let sent = frame(b"one frame");
        assert_eq!(client.read_exact(sent.len()), sent);
        let peer = client.local_addr();
        format!("client {peer} is now connected\n").len()
            + format!("client {peer} hung up after 1 frames\n").len()
    }
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &OneFrame);
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &OneFrame,
    );
}

#[test]
fn out_of_descriptors_the_server_pauses_and_serves_again_later() {
    let mut server = Server::start(SERVER);
    let failure = format!(
        "could not accept a connection on {}: Too many open files (os \
         error 24)",
        server.addr()
    );
    survival::assert_out_of_descriptors_it_pauses(
        &mut server,
        &OneFrame,
        &failure,
    );
}
