//! Listing 9-1 under faults: its parent killed in the middle of a session,
//! no descriptor left, a log nobody reads, a client gone between poll() and
//! accept(), and a hostile client's bytes; and each reply in one write. The
//! checks shared with chapter 8's server and the exercises are the test
//! kit's (`testkit::forking`, `testkit::survival`).

use std::process::Command;

use testkit::forking::{self, Visit};
use testkit::{Client, Server, pidfd, ptrace, survival, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-socketpair-echo-server");

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
    let command = || {
        let mut command = Command::new(SERVER);
        command.env("MAX_PROCS", "2");
        command
    };
    // A pipe that nobody reads, then one whose reader is gone.
    survival::assert_a_log_nobody_reads_never_stops(command(), &Visit);
    survival::assert_a_closed_log_never_kills(command(), &Visit);
}

#[test]
fn a_clients_bytes_never_reach_the_log() {
    let mut server = start(2);
    let mut client = server.connect();
    let child = client.read_greeting_pid();
    client.send(b"\x1b[31mred\nforged line\n");
    client.read_line();
    client.read_line();
    drop(client);
    server.next_line();
    assert_eq!(
        server.next_line(),
        format!(
            "child {child} done: client hung up after 2 lines (0 of 2 busy)"
        )
    );
    let log = server.process().stdout() + &server.process().stderr();
    assert!(!log.contains('\x1b') && !log.contains("forged"), "{log:?}");
}

/// Each reply is written at once, in one call, so it leaves in one TCP
/// segment. Three writes for one line, as `writeln!` straight onto the
/// stream makes, leave as two or three segments.
#[test]
fn each_reply_arrives_in_one_segment() {
    let server = start(2);
    forking::assert_each_reply_arrives_in_one_segment(&mut server.connect());
}

#[test]
fn a_client_gone_between_poll_and_accept_does_not_hang_the_parent() {
    let mut server = start(2);
    // The same listening socket, reached through a descriptor of our own,
    // as another process that accepts on it would have it.
    let other = match pidfd::copy_listener(server.pid(), server.addr()) {
        Ok(listener) => listener,
        Err(why) => return testkit::skip(&why),
    };
    let mut first = server.connect();
    let child = first.read_greeting_pid();
    server.next_line();

    // The second client arrives while the server is stopped; poll() tells
    // the server about it; before the server accepts, another process
    // (this test) takes it. The server is held still with ptrace(2) right
    // after its poll() returns, for as long as that takes.
    let (pid, addr) = (server.pid(), server.addr());
    let mut second = None;
    if let Err(why) = ptrace::stop_after_ready_poll(pid, || {
        second = Some(Client::connect(addr));
    }) {
        testkit::skip(&why);
        return;
    }
    let (_taken, _) = other.accept().expect("the second client is queued");
    ptrace::release(pid);

    // A parent asleep in accept() would not hear its child end.
    first.send_line("quit");
    first.expect_closed();
    let heard = server.process().next_line_within(timeout());
    assert_eq!(
        heard.as_deref(),
        Some(
            format!(
                "child {child} done: client quit after 0 lines (0 of 2 busy)"
            )
            .as_str()
        ),
        "the parent did not hear its child end: asleep in accept()?"
    );
}
