//! What every pool of chapter 10 survives, checked on this exercise's pool
//! too: the starter already does all of it (it is Listings 10-1 to 10-3,
//! with a copy of the supervisor to change), and the answer must go on
//! doing it. The checks are the test
//! kit's (`testkit::pool`), which Listing 10-1's tests run too.

use testkit::{conventions, pool};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-exercise-restart");

#[test]
fn a_worker_that_cannot_be_replaced_is_retried_until_every_slot_is_full() {
    pool::assert_failed_forks_are_retried_until_every_slot_is_refilled(SERVER);
}

#[test]
fn sigterm_stops_the_pool_even_with_a_stopped_worker() {
    pool::assert_sigterm_stops_the_pool_even_with_a_stopped_worker(SERVER);
}

#[test]
fn a_stopped_worker_dies_with_its_killed_supervisor() {
    pool::assert_a_stopped_worker_dies_with_its_killed_supervisor(SERVER);
}

#[test]
fn a_worker_out_of_descriptors_pauses_instead_of_spinning() {
    pool::assert_a_worker_out_of_descriptors_pauses_instead_of_spinning(SERVER);
}

#[test]
fn the_greeting_and_each_echo_are_one_write_each() {
    pool::assert_each_reply_is_one_write(SERVER);
}

#[test]
fn a_closed_stdout_does_not_stop_the_pool() {
    pool::assert_a_closed_stdout_does_not_stop_the_pool(SERVER);
}

#[test]
fn a_full_stdout_does_not_stop_the_supervisor() {
    pool::assert_a_full_stdout_does_not_stop_the_supervisor(SERVER);
}

#[test]
fn a_bad_max_procs_is_refused_before_anything_is_printed() {
    conventions::assert_bad_max_procs_are_refused(
        SERVER,
        &["0", "many", "99999999999999999999999"],
    );
}

#[test]
fn client_bytes_never_reach_the_log() {
    pool::assert_client_bytes_never_reach_the_log(SERVER);
}
