//! What Listing 8-1 survives, checked for Exercise 8-2 too: its starter and
//! its solution are Listing 8-1 plus the exercise, and must keep what the
//! listing does under faults (see the listing's `tests/faults.rs`). The
//! starter passes these tests; the exercise is `tests/rate_limit.rs`. The
//! checks are the test kit's (`testkit::forking`, `testkit::survival`), which
//! connect often from one address: a rate limit high enough never to refuse
//! them is set here.

use std::process::Command;

use testkit::forking::{self, Visit};
use testkit::{Server, conventions, survival};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-exercise-rate-limit");

/// A rate limit that never refuses the checks' clients.
const NO_LIMIT: &str = "1000000/1";

/// Starts the server with MAX_PROCS set and reads its first three lines.
fn start(max_procs: usize) -> Server {
    let max_procs = max_procs.to_string();
    let mut server = Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs), ("RATE_LIMIT", NO_LIMIT)],
    );
    assert_eq!(server.next_line(), format!("client slots: {max_procs}"));
    assert!(server.next_line().starts_with("rate limit: "));
    server
}

#[test]
fn children_end_with_their_parent_even_when_it_is_killed() {
    forking::assert_children_end_with_their_parent(|| start(2));
}

#[test]
fn out_of_descriptors_the_parent_pauses_and_serves_again_when_it_can() {
    let failure =
        "could not accept a client: Too many open files (os error 24)";
    survival::assert_out_of_descriptors_it_pauses(
        &mut start(2),
        &Visit,
        failure,
    );
}

#[test]
fn a_log_nobody_reads_neither_stops_nor_kills_the_server() {
    // Slots enough that no client is ever kept waiting, and no limit.
    let command = || {
        let mut command = Command::new(SERVER);
        command.env("MAX_PROCS", "100").env("RATE_LIMIT", NO_LIMIT);
        command
    };
    // A pipe that nobody reads, then one whose reader is gone.
    survival::assert_a_log_nobody_reads_never_stops(command(), &Visit);
    survival::assert_a_closed_log_never_kills(command(), &Visit);
}

#[test]
fn max_procs_is_read_as_in_listing_8_1() {
    conventions::assert_bad_max_procs_are_refused(
        SERVER,
        &["0", "two", "99999999999999999999999"],
    );
}
