//! The checks for exercise 2-1. They fail on the unchanged starter and pass
//! once the program probes every address and says what it found.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::Command;

use testkit::{Process, conventions, unused_port};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch02-exercise-addrinfo");

/// A listener on loopback that the test keeps open. Nobody accepts: the
/// kernel completes the handshake by itself, which is all a probe needs.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    (listener, port)
}

#[test]
fn an_address_where_something_listens_is_open() {
    let (_listener, port) = listener();
    let run = Process::run(PROGRAM, ["127.0.0.1", &port.to_string()], b"");
    assert_eq!(run.stdout, format!("127.0.0.1:{port} open\n"), "{run:?}");
    assert_eq!(run.code(), 0);
}

#[test]
fn an_address_where_nothing_listens_is_refused() {
    let port = unused_port();
    let run = Process::run(PROGRAM, ["127.0.0.1", &port.to_string()], b"");
    assert_eq!(run.stdout, format!("127.0.0.1:{port} refused\n"), "{run:?}");
    assert_eq!(run.code(), 1, "no address was open");
}

#[test]
fn a_name_is_probed_at_every_address_it_resolves_to() {
    let (_listener, port) = listener();
    let resolved: Vec<SocketAddr> = ("localhost", port)
        .to_socket_addrs()
        .expect("localhost resolves")
        .collect();
    let run = Process::run(PROGRAM, ["localhost", &port.to_string()], b"");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), resolved.len(), "one line per address: {run:?}");
    for (line, addr) in lines.iter().zip(&resolved) {
        if *addr == SocketAddr::from(([127, 0, 0, 1], port)) {
            assert_eq!(*line, format!("{addr} open"));
        } else {
            assert!(line.starts_with(&format!("{addr} ")), "{line:?}");
            assert_ne!(*line, format!("{addr} open"), "nothing listens there");
        }
    }
    assert_eq!(run.code(), 0, "127.0.0.1 was open");
}

#[test]
fn an_ipv6_address_is_probed_too() {
    if TcpListener::bind("[::1]:0").is_err() {
        testkit::skip("this machine has no IPv6 loopback address, ::1");
        return;
    }
    // Nothing listens on [::1] at this port.
    let port = unused_port();
    let run = Process::run(PROGRAM, ["::1", &port.to_string()], b"");
    assert_eq!(run.stdout, format!("[::1]:{port} refused\n"), "{run:?}");
    assert_eq!(run.code(), 1);
}

#[test]
fn a_name_that_does_not_resolve_is_reported_in_one_line() {
    // A name with spaces is not a host name: the resolver refuses it
    // without asking any DNS server, so this test needs no network.
    let run = Process::run(PROGRAM, ["no such host", "80"], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("could not resolve no such host: "),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // Like `| head -0`: nobody can read the results, and printing them fails
    // with EPIPE. The program says so and fails; it does not panic.
    let (_listener, port) = listener();
    let mut command = Command::new(PROGRAM);
    command.args(["127.0.0.1", &port.to_string()]);
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"",
        "could not print the results",
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        PROGRAM,
        &[
            &[],
            &["localhost"],
            &["localhost", "http"],
            &["localhost", "65536"],
            &["localhost", "80", "extra"],
        ],
        "usage: ch02-exercise-addrinfo HOST PORT",
    );
}
