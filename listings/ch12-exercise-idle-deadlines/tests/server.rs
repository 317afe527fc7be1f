//! What Listing 12-2 does, and the server of this exercise must keep doing
//! (the starter passes these, since it is Listing 12-2). The checks are the
//! test kit's (`testkit::select_server` and `testkit::survival`), which
//! Listing 12-2's own tests use too.

use std::process::Command;

use testkit::select_server::{self, Visit};
use testkit::survival;

const SERVER: &str = env!("CARGO_BIN_EXE_ch12-exercise-idle-deadlines");

#[test]
fn every_line_is_answered_whole_and_in_order() {
    select_server::assert_every_line_is_answered_whole(SERVER);
}

#[test]
fn clients_that_reset_or_half_close_do_not_disturb_the_others() {
    select_server::assert_clients_that_leave_do_not_disturb_the_others(SERVER);
}

#[test]
fn a_full_server_turns_the_next_client_away_and_sleeps() {
    select_server::assert_a_full_server_turns_clients_away_and_sleeps(SERVER);
}

#[test]
fn a_line_longer_than_the_limit_is_told_why_after_the_replies_it_was_owed() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        SERVER,
    );
}

#[test]
fn out_of_descriptors_a_busy_server_tries_again_a_few_times_a_second() {
    select_server::assert_out_of_descriptors_a_busy_server_that_raised_its_limit_tries_again_rarely(SERVER);
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &Visit);
}
