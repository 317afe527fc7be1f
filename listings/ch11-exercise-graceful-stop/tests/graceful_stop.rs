//! Exercise 11-2: SIGTERM or SIGINT stops the server gracefully: no new
//! client, the clients being served are served until they leave, every
//! thread is joined, and the exit status is 0.

use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;

use nix::sys::signal::Signal;
use testkit::select_server::{round_trip, welcomed};
use testkit::{Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch11-exercise-graceful-stop");

/// Stops a server with no client by `signal`: it exits with status 0, and
/// its log says it stopped.
fn stops_at_once_on(signal: Signal) {
    let mut server = Server::start(SERVER);
    server.process().signal(signal);
    let mut process = server.into_process();
    let status = process.wait_exit(timeout());
    assert_eq!(status.code(), Some(0), "{status:?}: {}", process.stderr());
    let stdout = process.finish().stdout;
    assert!(stdout.ends_with("stopped\n"), "{stdout}");
    assert!(stdout.contains(&format!("{signal} received")), "{stdout}");
}

#[test]
fn sigterm_without_clients_stops_the_server_with_status_0() {
    stops_at_once_on(Signal::SIGTERM);
}

#[test]
fn sigint_without_clients_stops_the_server_with_status_0() {
    stops_at_once_on(Signal::SIGINT);
}

#[test]
fn a_client_being_served_is_served_until_it_leaves_and_no_new_one_is_taken() {
    let mut server = Server::start(SERVER);
    let addr = server.addr();
    let mut client = welcomed(&server);
    round_trip(&mut client, "before the signal");
    server.process().signal(Signal::SIGTERM);
    server
        .process()
        .wait_for_stdout("stopping: waiting for 1 clients\n");
    // No new client: the listener is closed.
    let refused = TcpStream::connect_timeout(&addr, timeout());
    assert!(refused.is_err(), "a new client was let in after SIGTERM");
    // The client being served still is, as long as it wants.
    round_trip(&mut client, "after the signal");
    assert!(
        !server.process().has_exited(),
        "the server exited while a client was being served"
    );
    round_trip(&mut client, "still served");
    drop(client);
    let mut process = server.into_process();
    let status = process.wait_exit(timeout());
    assert_eq!(status.code(), Some(0), "{status:?}");
    let stdout = process.finish().stdout;
    assert!(stdout.ends_with(" disconnected\nstopped\n"), "{stdout}");
}

#[test]
fn every_clients_thread_is_joined_before_the_server_exits() {
    // Three clients; the server must wait for the last of them.
    let mut server = Server::start(SERVER);
    let mut clients: Vec<_> = (0..3).map(|_| welcomed(&server)).collect();
    server.process().signal(Signal::SIGTERM);
    server
        .process()
        .wait_for_stdout("stopping: waiting for 3 clients\n");
    let mut last = clients.pop().expect("three clients");
    drop(clients);
    round_trip(&mut last, "the last one");
    assert!(!server.process().has_exited());
    drop(last);
    let mut process = server.into_process();
    assert_eq!(process.wait_exit(timeout()).code(), Some(0));
    let stdout = process.finish().stdout;
    assert_eq!(stdout.matches(" disconnected\n").count(), 3, "{stdout}");
}

#[test]
fn a_silent_client_does_not_hold_the_stop_beyond_the_idle_time() {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "10", "1"], &[]);
    let _silent = welcomed(&server);
    server.process().signal(Signal::SIGTERM);
    let mut process = server.into_process();
    assert_eq!(process.wait_exit(timeout()).code(), Some(0));
    let stdout = process.finish().stdout;
    assert!(stdout.contains(" let go: idle for 1 s\n"), "{stdout}");
}

#[test]
fn a_second_signal_stops_the_server_at_once() {
    let mut server = Server::start(SERVER);
    let mut client = welcomed(&server);
    server.process().signal(Signal::SIGTERM);
    server
        .process()
        .wait_for_stdout("stopping: waiting for 1 clients\n");
    server.process().signal(Signal::SIGINT);
    let mut process = server.into_process();
    let status = process.wait_exit(timeout());
    // Status 1, not killed by the signal: the server chose to stop.
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_eq!(status.signal(), None);
    client.expect_closed();
}
