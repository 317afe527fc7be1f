//! What Listing 9-1 survives, checked for Exercise 9-2 too: its starter and its
//! solution are Listing 9-1 plus the exercise, and must keep what the
//! listing does under faults (see the listing's `tests/faults.rs`). The
//! starter passes these tests; the exercise is `tests/stats.rs`. The checks
//! are the test kit's (`testkit::forking`, `testkit::survival`).

use std::process::Command;

use testkit::forking::{self, Visit};
use testkit::{Server, survival};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-exercise-stats");

/// Starts the server with `max_procs` slots on an ephemeral port.
fn start(max_procs: usize) -> Server {
    Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs.to_string())],
    )
}

#[test]
fn children_end_with_their_parent_even_when_it_is_killed() {
    forking::assert_children_end_with_their_parent(|| start(2));
}

#[test]
fn out_of_descriptors_the_parent_pauses_and_serves_again_when_it_can() {
    // The pair for the next child is made first: it is what fails.
    let failure =
        "could not create a socket pair: Too many open files (os error 24)";
    survival::assert_out_of_descriptors_it_pauses(
        &mut start(2),
        &Visit,
        failure,
    );
}

#[test]
fn a_log_nobody_reads_neither_stops_nor_kills_the_server() {
    // Slots enough that no client is ever kept waiting or turned away.
    let command = || {
        let mut command = Command::new(SERVER);
        command.env("MAX_PROCS", "100");
        command
    };
    // A pipe that nobody reads, then one whose reader is gone.
    survival::assert_a_log_nobody_reads_never_stops(command(), &Visit);
    survival::assert_a_closed_log_never_kills(command(), &Visit);
}

/// Each reply is written at once, in one call, so it leaves in one TCP
/// segment.
#[test]
fn each_reply_arrives_in_one_segment() {
    let server = start(2);
    forking::assert_each_reply_arrives_in_one_segment(&mut server.connect());
}

/// poll() may say a client waits who is gone by the time the parent
/// accepts (another process took it): a blocking accept() would then hang
/// the parent until the next client. Listing 9-1's tests make it happen;
/// here, the listener is checked to be non-blocking.
#[test]
fn the_listener_is_non_blocking() {
    forking::assert_the_listener_is_non_blocking(&start(2));
}
