//! Listing 2-2 behaves as chapter 2 says: on port 0 the kernel picks a free
//! port and getsockname reports it; 127.0.0.1 accepts only calls to
//! 127.0.0.1, 0.0.0.0 accepts calls to any of the machine's addresses; and
//! failures are reported in one line.

use std::net::{SocketAddr, TcpStream};

use testkit::{Process, Server, Transcript, conventions};

const SERVER: &str = env!("CARGO_BIN_EXE_ch02-create-listen");

#[test]
fn by_default_it_listens_on_loopback_port_zero_and_reports_the_port() {
    // No argument: 127.0.0.1:0, so the kernel picks the port.
    let command = std::process::Command::new(SERVER);
    let mut server = Server::from_process(Process::spawn(command));
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    assert_ne!(server.port(), 0);
    let client = server.connect();
    let line = server.next_line();
    assert_eq!(
        line,
        format!("call from {} to {}", client.local_addr(), server.addr())
    );
    Transcript::new("transcripts/port-zero.console")
        .command("cargo run -p ch02-create-listen")
        .output(&format!("listening on {}\n{line}\n", server.addr()))
        .check();
}

#[test]
fn two_servers_on_port_zero_get_different_ports() {
    let first = Server::start(SERVER);
    let second = Server::start(SERVER);
    assert_ne!(first.port(), 0);
    assert_ne!(first.port(), second.port());
}

#[test]
fn loopback_only_refuses_calls_to_another_address() {
    // All of 127.0.0.0/8 is loopback, but a socket bound to 127.0.0.1
    // accepts only connections to 127.0.0.1.
    let server = Server::start(SERVER);
    let elsewhere = SocketAddr::from(([127, 0, 0, 2], server.port()));
    let err =
        TcpStream::connect(elsewhere).expect_err("nobody listens on 127.0.0.2");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn all_addresses_accepts_calls_to_any_local_address() {
    let mut server = Server::start_with(SERVER, ["0.0.0.0:0"], &[]);
    assert_eq!(server.addr().ip().to_string(), "0.0.0.0");
    let mut output = format!("listening on {}\n", server.addr());
    for dialled in [[127, 0, 0, 1], [127, 0, 0, 2]] {
        let dialled = SocketAddr::from((dialled, server.port()));
        let client = testkit::Client::connect(dialled);
        let line = server.next_line();
        assert_eq!(
            line,
            format!("call from {} to {dialled}", client.local_addr())
        );
        output.push_str(&line);
        output.push('\n');
    }
    Transcript::new("transcripts/all-addresses.console")
        .command("cargo run -p ch02-create-listen -- 0.0.0.0:5000")
        .output(&output)
        .show_port(server.port(), 5000)
        .check();
}

/// Whether this machine has IPv6 on loopback: some containers have none.
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn ipv6_loopback_works_too() {
    if !has_ipv6_loopback() {
        testkit::skip("this machine has no IPv6 loopback address, ::1");
        return;
    }
    let mut server = Server::start_with(SERVER, ["[::1]:0"], &[]);
    assert_eq!(server.addr().ip().to_string(), "::1");
    let client = server.connect();
    assert_eq!(
        server.next_line(),
        format!("call from {} to {}", client.local_addr(), server.addr())
    );
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn a_name_is_resolved_like_tcp_listener_bind_does() {
    let server = Server::start_with(SERVER, ["localhost:0"], &[]);
    assert!(server.addr().ip().is_loopback(), "{}", server.addr());
}

#[test]
fn an_address_that_is_not_an_address_is_reported_in_one_line() {
    // An address that cannot be used is an error, status 1, like a port in
    // use; only arguments of the wrong form or number are a usage error.
    let run = Process::run(SERVER, ["localhost:http"], b"");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "could not bind localhost:http: invalid port value\n"
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"], &["--help"]],
        "usage: ch02-create-listen [ADDR]",
    );
}
