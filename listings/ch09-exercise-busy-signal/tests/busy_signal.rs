//! The checks for exercise 9-1. They fail on the unchanged starter and pass
//! once a client who calls while every slot is busy is told so at once.

use std::time::Duration;

use testkit::{Client, Server, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-exercise-busy-signal");

fn start(max_procs: usize) -> Server {
    Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs.to_string())],
    )
}

/// Reads the next line, failing the test if none comes within two seconds.
fn line_soon(client: &mut Client) -> String {
    client.set_read_timeout(Duration::from_secs(2));
    client.read_line()
}

#[test]
fn a_client_who_calls_while_all_slots_are_busy_is_told_at_once() {
    let mut server = start(1);
    let mut first = server.connect();
    assert!(line_soon(&mut first).starts_with("You are connected to process "));
    server.next_line();

    let mut second = server.connect();
    assert_eq!(
        line_soon(&mut second),
        "all 1 slots are busy, try again later\n"
    );
    second.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("turned away {} (1 of 1 busy)", second.local_addr())
    );
}

#[test]
fn the_client_being_served_is_not_disturbed() {
    let server = start(1);
    let mut first = server.connect();
    line_soon(&mut first);
    let mut second = server.connect();
    line_soon(&mut second);
    first.send_line("still here");
    assert_eq!(line_soon(&mut first), "still here\n");
}

#[test]
fn once_a_slot_is_free_the_next_client_is_served() {
    let mut server = start(2);
    let mut first = server.connect();
    let mut second = server.connect();
    line_soon(&mut first);
    line_soon(&mut second);
    let mut third = server.connect();
    assert!(line_soon(&mut third).starts_with("all 2 slots are busy"));

    first.send_line("quit");
    first.expect_closed();
    drop(first);
    server
        .process()
        .wait_for_stdout("done: client quit after 0 lines (1 of 2 busy)");
    let mut fourth = server.connect();
    assert!(
        line_soon(&mut fourth).starts_with("You are connected to process ")
    );
}

#[test]
fn a_full_server_still_sleeps_while_nobody_calls() {
    let server = start(1);
    let mut first = server.connect();
    line_soon(&mut first);
    let mut second = server.connect();
    line_soon(&mut second);
    let used =
        procfs::cpu_used_during(server.pid(), Duration::from_millis(500));
    assert!(
        used <= Duration::from_millis(10),
        "the parent used {used:?}"
    );
}
