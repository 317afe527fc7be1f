//! The checks for exercise 8-2. They fail on the unchanged starter, which
//! leaves the extra client waiting, and pass once it is turned away at once.

use std::time::Duration;

use testkit::{Client, Server, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-exercise-turn-away");

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

#[test]
fn a_client_who_finds_every_slot_busy_is_turned_away_at_once() {
    let mut server = start("1");
    let _busy = served(&mut server);
    let mut extra = server.connect();
    assert_eq!(
        String::from_utf8_lossy(&extra.read_to_end()),
        "busy: no free slot, try again later\n"
    );
    assert_eq!(
        server.next_line(),
        format!("turned away {}", extra.local_addr())
    );
    // No child was started for it.
    assert_eq!(procfs::live_children(server.pid()).len(), 1);
}

#[test]
fn a_freed_slot_serves_the_next_client() {
    let mut server = start("2");
    let first = served(&mut server);
    let _second = served(&mut server);
    let mut extra = server.connect();
    assert!(extra.read_to_end().starts_with(b"busy: "));
    server.next_line();

    drop(first);
    assert!(server.next_line().contains(" is done (1 of 2 busy)"));
    let mut next = served(&mut server);
    next.send_line("hello");
    assert_eq!(next.read_line(), "hello\n");
}

#[test]
fn the_parent_still_sleeps_while_every_slot_is_busy() {
    let mut server = start("1");
    let _busy = served(&mut server);
    let used =
        procfs::cpu_used_during(server.pid(), Duration::from_millis(500));
    assert!(used < Duration::from_millis(50), "used {used:?} of CPU");
}
