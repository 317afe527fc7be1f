//! The checks for exercise 9-2. They fail on the unchanged starter and pass
//! once a client line `stats` is answered, by way of the parent, with how
//! many children are busy.

use std::time::Duration;

use testkit::{Client, Server};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-exercise-stats");

fn start(max_procs: usize) -> Server {
    Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs.to_string())],
    )
}

/// Connects and reads the greeting, with short read timeouts.
fn greeted(server: &Server) -> Client {
    let mut client = server.connect();
    client.set_read_timeout(Duration::from_secs(2));
    let greeting = client.read_line();
    assert!(greeting.starts_with("You are connected to process "));
    client
}

fn ask(client: &mut Client, line: &str) -> String {
    client.send_line(line);
    client.read_line()
}

#[test]
fn stats_tells_how_many_children_are_busy() {
    let server = start(3);
    let mut first = greeted(&server);
    let mut second = greeted(&server);
    assert_eq!(ask(&mut first, "stats"), "2 of 3 busy\n");
    assert_eq!(ask(&mut second, "stats"), "2 of 3 busy\n");
    let mut third = greeted(&server);
    assert_eq!(ask(&mut third, "stats"), "3 of 3 busy\n");
}

#[test]
fn stats_is_answered_not_echoed_and_echo_goes_on() {
    let server = start(2);
    let mut client = greeted(&server);
    assert_eq!(ask(&mut client, "hello"), "hello\n");
    assert_eq!(ask(&mut client, "stats"), "1 of 2 busy\n");
    assert_eq!(ask(&mut client, "world"), "world\n");
}

#[test]
fn the_count_drops_when_a_child_is_done() {
    let mut server = start(3);
    let mut leaving = greeted(&server);
    let mut staying = greeted(&server);
    leaving.send_line("quit");
    leaving.expect_closed();
    drop(leaving);
    server
        .process()
        .wait_for_stdout(" done: client quit after 0 lines (1 of 3 busy)\n");
    assert_eq!(ask(&mut staying, "stats"), "1 of 3 busy\n");
}

#[test]
fn many_questions_at_once_get_as_many_answers() {
    let server = start(2);
    let mut client = greeted(&server);
    client.send("stats\n".repeat(20).as_bytes());
    for _ in 0..20 {
        assert_eq!(client.read_line(), "1 of 2 busy\n");
    }
}

#[test]
fn the_report_still_reaches_the_parent_and_stats_is_not_counted() {
    let server = start(2);
    let mut client = greeted(&server);
    let pid = server.pid();
    assert_eq!(ask(&mut client, "hello"), "hello\n");
    assert_eq!(ask(&mut client, "stats"), "1 of 2 busy\n");
    client.shutdown_write();
    client.expect_closed();
    let mut server = server;
    server
        .process()
        .wait_for_stdout(" done: client hung up after 1 line (0 of 2 busy)\n");
    assert!(testkit::procfs::children(pid).is_empty());
}
