//! What the starter (Listing 6-1) already does right, and the solution must
//! keep doing: it answers neither its own address nor a reply, so that two
//! rooms cannot keep each other busy; it escapes what clients send in its
//! log; and its log never stops it. The starter passes these; the
//! exercise's own checks are in `udp_chat.rs`. The checks are the test
//! kit's (`testkit::udp`), which Listing 6-1's tests run too.

use testkit::udp;

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-exercise-udp-chat");

#[test]
fn a_datagram_forged_with_the_servers_own_address_is_not_answered() {
    udp::assert_its_own_address_is_not_answered(SERVER);
}

/// One datagram forged with the address of another room, and each answers
/// at most once.
#[test]
fn two_rooms_pointed_at_each_other_answer_at_most_once() {
    udp::assert_two_servers_pointed_at_each_other_answer_at_most_once(SERVER);
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
