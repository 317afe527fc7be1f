//! The checks for exercise 8-1. They fail on the unchanged starter (SIGUSR1
//! kills it) and pass once SIGUSR1 and SIGUSR2 change the number of slots.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use testkit::{Client, Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-exercise-adjust-limit");

fn start(max_procs: &str) -> Server {
    let mut server = Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", max_procs)],
    );
    assert_eq!(server.next_line(), format!("client slots: {max_procs}"));
    server
}

/// Connects a client and reads its greeting.
fn served(server: &mut Server) -> Client {
    let mut client = server.connect();
    client.read_greeting_pid();
    assert!(server.next_line().starts_with("child "));
    client
}

/// Sends `signal` to the server and reads the line it answers with; fails
/// at once if the signal killed the server.
fn adjust(server: &mut Server, signal: Signal) -> String {
    server.process().signal(signal);
    let deadline = Instant::now() + timeout();
    loop {
        let process = server.process();
        if let Some(line) = process.next_line_within(Duration::from_millis(20))
        {
            return line;
        }
        assert!(!process.has_exited(), "{signal} killed the server");
        assert!(Instant::now() < deadline, "no answer to {signal}");
    }
}

#[test]
fn sigusr1_adds_a_slot_and_a_waiting_client_is_served_at_once() {
    let mut server = start("1");
    let _first = served(&mut server);
    let mut second = server.connect();
    assert!(second.is_silent_for(Duration::from_millis(200)));

    assert_eq!(adjust(&mut server, Signal::SIGUSR1), "client slots: 2");
    second.read_greeting_pid();
    second.send_line("hello");
    assert_eq!(second.read_line(), "hello\n");
}

#[test]
fn sigusr2_takes_a_slot_away_but_never_the_last() {
    let mut server = start("2");
    assert_eq!(adjust(&mut server, Signal::SIGUSR2), "client slots: 1");
    assert_eq!(adjust(&mut server, Signal::SIGUSR2), "client slots: 1");
    let _first = served(&mut server);
    let mut second = server.connect();
    assert!(second.is_silent_for(Duration::from_millis(200)));
}

#[test]
fn fewer_slots_end_no_busy_child() {
    let mut server = start("2");
    let mut first = served(&mut server);
    let mut second = served(&mut server);
    assert_eq!(adjust(&mut server, Signal::SIGUSR2), "client slots: 1");

    // Both clients are still served...
    for client in [&mut first, &mut second] {
        client.send_line("still here");
        assert_eq!(client.read_line(), "still here\n");
    }
    // ...but when one leaves, one child is still busy, and that fills the
    // only slot left: the third client waits until the other leaves too.
    let mut third = server.connect();
    drop(first);
    assert!(server.next_line().contains(" is done (1 of 1 busy)"));
    assert!(third.is_silent_for(Duration::from_millis(200)));
    drop(second);
    third.read_greeting_pid();
}
