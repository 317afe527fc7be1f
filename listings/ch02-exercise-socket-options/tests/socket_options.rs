//! The checks for exercise 2-2. They fail on the unchanged starter and pass
//! once the program prints every option in the order the exercise gives,
//! with the values the kernel's settings say a new socket gets.

use std::fs;
use std::process::Command;

use testkit::{Process, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch02-exercise-socket-options");

/// A setting from /proc/sys (see tcp(7), udp(7), ip(7) and socket(7)).
fn sysctl(name: &str) -> String {
    let path = format!("/proc/sys/{name}");
    fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("could not read {path}: {err}"))
        .trim()
        .to_string()
}

/// The middle of three numbers (min, default, max), as in tcp_rmem.
fn default_of(triple: &str) -> String {
    let values: Vec<&str> = triple.split_whitespace().collect();
    assert_eq!(values.len(), 3, "{triple:?}");
    values[1].to_string()
}

fn options_of(kind: &str) -> String {
    let run = Process::run(PROGRAM, [kind], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, "");
    run.stdout
}

/// What a new socket's options should read, in the order the exercise gives.
fn expected(
    socket_type: &str,
    rcvbuf: &str,
    sndbuf: &str,
    tcp: bool,
) -> String {
    let ttl = sysctl("net/ipv4/ip_default_ttl");
    let mut lines = format!(
        "SO_TYPE {socket_type}\n\
         SO_REUSEADDR off\n\
         SO_KEEPALIVE off\n\
         SO_BROADCAST off\n\
         SO_LINGER off\n\
         SO_RCVBUF {rcvbuf}\n\
         SO_SNDBUF {sndbuf}\n\
         SO_RCVTIMEO none\n\
         SO_SNDTIMEO none\n\
         IP_TTL {ttl}\n"
    );
    if tcp {
        lines.push_str("TCP_NODELAY off\n");
    }
    lines
}

#[test]
fn a_new_tcp_socket_has_the_defaults_of_tcp_rmem_and_tcp_wmem() {
    // tcp(7): a TCP socket's buffers start at the middle value of
    // net.ipv4.tcp_rmem and net.ipv4.tcp_wmem.
    let rcvbuf = default_of(&sysctl("net/ipv4/tcp_rmem"));
    let sndbuf = default_of(&sysctl("net/ipv4/tcp_wmem"));
    assert_eq!(
        options_of("tcp"),
        expected("SOCK_STREAM", &rcvbuf, &sndbuf, true)
    );
}

#[test]
fn a_new_udp_socket_has_the_core_defaults_and_no_tcp_options() {
    // socket(7): other sockets start at net.core.rmem_default and
    // net.core.wmem_default. TCP_NODELAY belongs to TCP alone.
    let rcvbuf = sysctl("net/core/rmem_default");
    let sndbuf = sysctl("net/core/wmem_default");
    assert_eq!(
        options_of("udp"),
        expected("SOCK_DGRAM", &rcvbuf, &sndbuf, false)
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // Like `| head -0`: nobody can read the options, and printing them fails
    // with EPIPE. The program says so and fails; it does not panic.
    let mut command = Command::new(PROGRAM);
    command.arg("tcp");
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"",
        "could not print the options",
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        PROGRAM,
        &[&[], &["sctp"], &["tcp", "udp"], &["--help"]],
        "usage: ch02-exercise-socket-options tcp|udp",
    );
}
