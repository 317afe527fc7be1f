//! Listing 12-1 behaves as Listing 5-1 does: the same protocol, the same
//! limits, the same defences. Most checks are the test kit's
//! (`testkit::select_server`), which run on every server of chapters 5 and
//! 12.

use std::process::Command;

use testkit::select_server::{self, Visit, round_trip, welcomed};
use testkit::{Server, Transcript, conventions, survival};

const SERVER: &str = env!("CARGO_BIN_EXE_ch12-poll-server");

#[test]
fn session_matches_the_book() {
    let mut server = Server::start(SERVER);
    let mut log = format!("listening on {}\n", server.addr());
    let mut log_next = |server: &mut Server| {
        log.push_str(&server.next_line());
        log.push('\n');
    };
    let mut first = welcomed(&server);
    log_next(&mut server);
    let mut second = welcomed(&server);
    log_next(&mut server);
    round_trip(&mut first, "hello from the first");
    round_trip(&mut second, "hello from the second");
    drop(first);
    log_next(&mut server);
    drop(second);
    log_next(&mut server);
    Transcript::new("transcripts/session.console")
        .command("cargo run -p ch12-poll-server")
        .output(&log)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn every_line_is_answered_whole_and_in_order() {
    select_server::assert_every_line_is_answered_whole(SERVER);
}

#[test]
fn concurrent_clients_each_get_exactly_their_own_replies() {
    select_server::assert_concurrent_clients_each_get_their_own_replies(
        SERVER, 10,
    );
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
fn a_client_that_never_reads_is_dropped_and_delays_nobody() {
    select_server::assert_a_client_that_never_reads_is_dropped_and_delays_nobody(
        SERVER,
    );
}

#[test]
fn a_line_longer_than_the_limit_is_told_why_after_the_replies_it_was_owed() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        SERVER,
    );
}

#[test]
fn ten_silent_clients_make_room_for_an_eleventh_once_one_is_idle_too_long() {
    select_server::assert_silent_clients_make_room_once_idle_too_long(SERVER);
}

#[test]
fn client_limits_it_cannot_serve_are_refused_before_listening() {
    select_server::assert_limits_it_cannot_serve_are_refused_before_listening(
        SERVER,
    );
}

#[test]
fn the_client_limit_is_what_descriptors_allow_not_what_select_can_watch() {
    // The server raises its soft limit to the hard one; stdin, stdout,
    // stderr and the listener take four descriptors of it.
    let most = testkit::limits::hard_descriptor_limit() - 4;
    let too_many = (most + 1).to_string();
    let run = testkit::Process::run(SERVER, ["127.0.0.1:0", &too_many], b"");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "MAX_CLIENTS must be a number of clients, 1 to {most}, not \
             \"{too_many}\"\n"
        )
    );
}

#[test]
fn out_of_descriptors_the_server_pauses_and_then_serves() {
    let mut server = Server::start(SERVER);
    survival::assert_out_of_descriptors_it_pauses(
        &mut server,
        &Visit,
        "could not accept a connection: Too many open files (os error 24)",
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

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Visit,
    );
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["--help"], &["127.0.0.1:0", "10", "30", "extra"]],
        "usage: ch12-poll-server [ADDR [MAX_CLIENTS [MAX_IDLE_SECS]]]",
    );
}
