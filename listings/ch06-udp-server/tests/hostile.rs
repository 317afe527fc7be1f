//! Listing 6-1 against datagrams and surroundings that could stop it, or
//! keep it busy for ever: a datagram forged with the server's own address,
//! two servers pointed at each other, bytes meant for the operator's
//! terminal, and a log nobody reads. The checks are the test kit's
//! (`testkit::udp`), which the chat exercise runs too.
//!
//! Every server here logs through a pipe of which the test keeps 64 KiB,
//! and is killed when its test ends, so that even a server caught in a loop
//! cannot fill the memory or the disk.

use testkit::{Transcript, udp};

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-udp-server");

/// Backs ch06-udp.md#who-a-udp-server-answers: the reply to a datagram
/// from the server's own address would go to the server itself.
#[test]
fn a_datagram_forged_with_the_servers_own_address_is_not_answered() {
    let Some(server) = udp::assert_its_own_address_is_not_answered(SERVER)
    else {
        return;
    };
    Transcript::new("transcripts/own-address.console")
        .command("cargo run -p ch06-udp-server")
        .output(&server.lines().join("\n"))
        .show_port(server.addr().port(), 9999)
        .check();
}

/// Backs ch06-udp.md#who-a-udp-server-answers: one datagram forged with
/// the address of another server of the same kind, and each answers at
/// most once.
#[test]
fn two_servers_pointed_at_each_other_answer_at_most_once() {
    let Some((first, second)) =
        udp::assert_two_servers_pointed_at_each_other_answer_at_most_once(
            SERVER,
        )
    else {
        return;
    };
    // The book runs the first on port 9999, and the second on 9998.
    let (first_port, second_port) = (first.addr().port(), second.addr().port());
    for (file, command, log) in [
        (
            "transcripts/two-servers-first.console",
            "cargo run -p ch06-udp-server",
            first.lines(),
        ),
        (
            "transcripts/two-servers-second.console",
            "cargo run -p ch06-udp-server 127.0.0.1:9998",
            second.lines(),
        ),
    ] {
        Transcript::new(file)
            .command(command)
            .output(&log.join("\n"))
            .show_port(first_port, 9999)
            .show_port(second_port, 9998)
            .check();
    }
}

#[test]
fn a_datagram_that_looks_like_a_reply_is_not_answered() {
    udp::assert_a_datagram_that_looks_like_a_reply_is_not_answered(SERVER);
}

#[test]
fn what_a_client_sends_is_escaped_in_the_log_on_one_line() {
    udp::assert_what_a_client_sends_is_escaped_in_the_log(SERVER);
}

#[test]
fn a_long_message_is_cut_in_the_log_but_not_in_the_reply() {
    udp::assert_a_long_message_is_cut_in_the_log_but_not_in_the_reply(SERVER);
}

#[test]
fn the_server_goes_on_when_its_log_is_a_closed_pipe() {
    udp::assert_it_goes_on_when_its_log_is_a_closed_pipe(SERVER);
}

#[test]
fn the_server_goes_on_when_nobody_reads_its_log() {
    udp::assert_it_goes_on_when_nobody_reads_its_log(SERVER);
}
