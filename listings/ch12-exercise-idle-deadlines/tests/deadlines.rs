//! The checks for exercise 12-1: a client idle for longer than
//! MAX_IDLE_SECS is told so and let go on time, whether the server is full
//! or not, and the server sleeps until then instead of looking again and
//! again.

use std::thread;
use std::time::{Duration, Instant};

use testkit::select_server::{round_trip, welcomed};
use testkit::{Server, kernel};

const SERVER: &str = env!("CARGO_BIN_EXE_ch12-exercise-idle-deadlines");
const IDLE_TOO_LONG: &str = "Sorry, you have been idle too long. Goodbye.\n";

#[test]
fn a_silent_client_is_let_go_on_time_although_the_server_is_not_full() {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "10", "1"], &[]);
    let connecting = Instant::now();
    let mut silent = welcomed(&server);
    let addr = silent.local_addr();
    server.next_line();
    // Nine slots are free, and nobody else connects: the starter keeps the
    // client for ever, and this read times out.
    assert_eq!(silent.read_line(), IDLE_TOO_LONG);
    silent.expect_closed();
    let after = connecting.elapsed();
    assert!(after >= Duration::from_secs(1), "let go after {after:?}");
    assert_eq!(
        server.next_line(),
        format!("slot 0: {addr} dropped: idle for more than 1 s")
    );
}

#[test]
fn a_client_that_keeps_talking_stays_while_a_silent_one_goes() {
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "10", "1"], &[]);
    let mut talker = welcomed(&server);
    let mut silent = welcomed(&server);
    let started = Instant::now();
    // A line every 200 ms, for two seconds: never idle for a second.
    while started.elapsed() < Duration::from_secs(2) {
        round_trip(&mut talker, "still here");
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(silent.read_line(), IDLE_TOO_LONG);
    round_trip(&mut talker, "and served");
}

#[test]
fn each_client_goes_at_its_own_deadline() {
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "10", "2"], &[]);
    let mut first = welcomed(&server);
    thread::sleep(Duration::from_secs(1));
    let second_connecting = Instant::now();
    let mut second = welcomed(&server);
    // The first is due a second before the second is, which cannot be due
    // before two seconds after it began to connect.
    assert_eq!(first.read_line(), IDLE_TOO_LONG);
    let second_not_due = (second_connecting + Duration::from_secs(2))
        .saturating_duration_since(Instant::now());
    // (A machine so busy that the second is nearly due by now skips this.)
    if second_not_due > Duration::from_millis(200) {
        assert!(
            second.is_silent_for(second_not_due - Duration::from_millis(100)),
            "the second client was let go with the first"
        );
    }
    assert_eq!(second.read_line(), IDLE_TOO_LONG);
}

#[test]
fn between_deadlines_the_server_sleeps() {
    // Twenty idle clients, none due for three seconds: a server that looks
    // for idle clients every few milliseconds wakes hundreds of times in
    // the next second, one that sleeps until the nearest deadline not once.
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "20", "3"], &[]);
    let _clients: Vec<_> = (0..20).map(|_| welcomed(&server)).collect();
    kernel::assert_asleep_during(server.pid(), Duration::from_secs(1));
}
