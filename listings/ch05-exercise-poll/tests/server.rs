//! What Listing 5-1 does, and the server of this exercise must keep doing
//! (the starter passes these, since it is Listing 5-1): it makes room for a
//! new client when silent ones fill it, tells a client whose line is too
//! long why it must go, refuses limits it cannot serve before it listens,
//! pauses when it runs out of descriptors, and its log never stops it. The
//! checks are the test kit's (`testkit::select_server` and
//! `testkit::survival`), which Listing 5-1's tests use too.

use std::process::Command;

use testkit::select_server::{self, Visit};
use testkit::survival;

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-exercise-poll");

#[test]
fn ten_silent_clients_make_room_for_an_eleventh_once_one_is_idle_too_long() {
    select_server::assert_silent_clients_make_room_once_idle_too_long(SERVER);
}

#[test]
fn a_line_longer_than_the_limit_is_told_why_after_the_replies_it_was_owed() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        SERVER,
    );
}

#[test]
fn client_limits_it_cannot_serve_are_refused_before_listening() {
    select_server::assert_limits_it_cannot_serve_are_refused_before_listening(
        SERVER,
    );
}

#[test]
fn out_of_descriptors_a_busy_server_tries_again_a_few_times_a_second() {
    // Had each line a client sends been a new try at accept(), each would
    // have failed and written a line of log: thousands a second.
    select_server::assert_out_of_descriptors_a_busy_server_tries_again_rarely(
        SERVER,
    );
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &Visit);
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Visit,
    );
}
