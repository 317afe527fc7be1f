//! What the starter (Listing 6-2) already does right, and the solution
//! must keep doing: survive Ctrl-Z and `fg` while it waits, stop in one
//! line when its output is closed, never send a message that looks like a
//! reply, and show a stray datagram escaped. The starter passes these; the
//! exercise's own checks are in `retransmit.rs`. Two of these checks are
//! the test kit's (`testkit::udp`), which Listing 6-2's tests run too.

use std::process::Command;

use testkit::udp::{self, answer_all, receive_from, stand_in};
use testkit::{Process, conventions};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch06-exercise-retransmit");

#[test]
fn a_client_stopped_and_continued_while_it_waits_goes_on_waiting() {
    udp::assert_a_client_stopped_and_continued_while_it_waits_goes_on(CLIENT);
}

#[test]
fn a_closed_stdout_stops_the_client_with_one_line_and_status_1() {
    let (addr, _server) = stand_in(answer_all);
    let mut command = Command::new(CLIENT);
    command.arg(addr.to_string());
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"hello\nhow are you?\n",
        "could not write to stdout",
    );
}

#[test]
fn a_message_that_begins_like_a_reply_is_not_sent() {
    let (addr, server) = stand_in(|socket| {
        let (message, client) = receive_from(&socket);
        socket
            .send_to(&[&b"OK "[..], &message].concat(), client)
            .expect("send_to");
        message
    });
    let run = Process::run(CLIENT, [addr.to_string()], b"OK computer\nhello\n");
    // The first datagram to arrive was the second line.
    assert_eq!(server.join().expect("the stand-in"), b"hello");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "Reply : OK hello\n");
    assert_eq!(
        run.stderr,
        "not sent: a message must not begin with \"OK \", as a reply does\n"
    );
}

#[test]
fn a_stray_datagram_is_shown_escaped() {
    udp::assert_a_stray_datagram_is_shown_escaped(CLIENT);
}
