//! Listing 12-2 edge-triggered (`--edge`) keeps every promise of the
//! level-triggered loop: the kit's checks, run on a server started with
//! `--edge`. Above all, it reads each client until the kernel has nothing
//! left: an edge is reported once.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use testkit::select_server::{self, Visit};
use testkit::{Server, survival};

mod drain;

const SERVER: &str = env!("CARGO_BIN_EXE_ch12-epoll-server");

/// A command that runs the server with `--edge` before the arguments it is
/// given: the kit's checks start "a program with arguments", and this is
/// one. `exec` makes the script become the server, in the kit's process
/// group, so that it dies with the test.
fn edge_server() -> &'static str {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ch12-epoll-server-edge-{}", std::process::id()));
        let script = format!("#!/bin/sh\nexec '{SERVER}' --edge \"$@\"\n");
        std::fs::write(&path, script).expect("write the script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make the script executable");
        path.to_string_lossy().into_owned()
    })
}

#[test]
fn a_client_that_sends_many_reads_worth_at_once_gets_every_reply() {
    drain::drains_a_client_that_sends_many_reads_worth_at_once(edge_server());
}

#[test]
fn a_burst_of_connections_is_accepted_whole() {
    // Sixty clients connect before any reads its welcome: more than one
    // turn of accepts, and more than one edge may stand for them all.
    let server = Server::start_with(edge_server(), ["127.0.0.1:0", "100"], &[]);
    let mut clients: Vec<testkit::Client> =
        (0..60).map(|_| server.connect()).collect();
    for client in &mut clients {
        select_server::hear_welcome(client);
    }
}

#[test]
fn every_line_is_answered_whole_and_in_order() {
    select_server::assert_every_line_is_answered_whole(edge_server());
}

#[test]
fn concurrent_clients_each_get_exactly_their_own_replies() {
    select_server::assert_concurrent_clients_each_get_their_own_replies(
        edge_server(),
        10,
    );
}

#[test]
fn clients_that_reset_or_half_close_do_not_disturb_the_others() {
    select_server::assert_clients_that_leave_do_not_disturb_the_others(
        edge_server(),
    );
}

#[test]
fn a_full_server_turns_the_next_client_away_and_sleeps() {
    select_server::assert_a_full_server_turns_clients_away_and_sleeps(
        edge_server(),
    );
}

#[test]
fn a_client_that_never_reads_is_dropped_and_delays_nobody() {
    select_server::assert_a_client_that_never_reads_is_dropped_and_delays_nobody(
        edge_server(),
    );
}

#[test]
fn a_line_longer_than_the_limit_is_told_why_after_the_replies_it_was_owed() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        edge_server(),
    );
}

#[test]
fn ten_silent_clients_make_room_for_an_eleventh_once_one_is_idle_too_long() {
    select_server::assert_silent_clients_make_room_once_idle_too_long(
        edge_server(),
    );
}

#[test]
fn out_of_descriptors_the_server_pauses_and_then_serves() {
    // Edge-triggered, the connection that waited through the pause must
    // still be reported when the server watches the listener again.
    let mut server = Server::start(edge_server());
    survival::assert_out_of_descriptors_it_pauses(
        &mut server,
        &Visit,
        "could not accept a connection: Too many open files (os error 24)",
    );
}

#[test]
fn out_of_descriptors_a_busy_server_tries_again_a_few_times_a_second() {
    select_server::assert_out_of_descriptors_a_busy_server_that_raised_its_limit_tries_again_rarely(edge_server());
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    survival::assert_a_closed_log_never_kills(
        Command::new(edge_server()),
        &Visit,
    );
}
