//! Exercise 2-2, a wrong answer: it asks every socket for TCP_NODELAY, a UDP
//! one too. That option belongs to TCP (level IPPROTO_TCP): a UDP socket does
//! not have it, and getsockopt() fails. The tests must reject it.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

pub fn main() -> ExitCode {
    // One argument: the kind of socket, tcp or udp.
    let mut args = std::env::args().skip(1);
    let kind = match (args.next(), args.next()) {
        (Some(kind), None) if kind == "tcp" || kind == "udp" => kind,
        _ => {
            eprintln!("usage: ch02-exercise-socket-options tcp|udp");
            return ExitCode::from(2);
        }
    };
    let ty = if kind == "tcp" {
        Type::STREAM
    } else {
        Type::DGRAM
    };
    let socket = match Socket::new(Domain::IPV4, ty, None) {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!("could not create a {kind} socket: {err}");
            return ExitCode::FAILURE;
        }
    };

    // Each option's name and its value as text, in the order printed. Every
    // getter is one getsockopt() call, like PHP's socket_get_option().
    let mut options: Vec<(&str, io::Result<String>)> = vec![
        ("SO_TYPE", socket.r#type().map(type_name)),
        ("SO_REUSEADDR", socket.reuse_address().map(on_off)),
        ("SO_KEEPALIVE", socket.keepalive().map(on_off)),
        ("SO_BROADCAST", socket.broadcast().map(on_off)),
        ("SO_LINGER", socket.linger().map(linger)),
        (
            "SO_RCVBUF",
            socket.recv_buffer_size().map(|bytes| bytes.to_string()),
        ),
        (
            "SO_SNDBUF",
            socket.send_buffer_size().map(|bytes| bytes.to_string()),
        ),
        ("SO_RCVTIMEO", socket.read_timeout().map(timeout)),
        ("SO_SNDTIMEO", socket.write_timeout().map(timeout)),
        ("IP_TTL", socket.ttl_v4().map(|hops| hops.to_string())),
    ];
    // TCP_NODELAY is an option of TCP (level IPPROTO_TCP): a UDP socket
    // does not have it, and getsockopt() would fail.
    // Wrong: a UDP socket has no TCP_NODELAY.
    options.push(("TCP_NODELAY", socket.tcp_nodelay().map(on_off)));

    let mut stdout = io::stdout().lock();
    for (name, value) in options {
        let value = match value {
            Ok(value) => value,
            Err(err) => {
                eprintln!("could not read {name}: {err}");
                return ExitCode::FAILURE;
            }
        };
        // A closed stdout (`| head -1`) is an error, not a panic.
        if let Err(err) = writeln!(stdout, "{name} {value}") {
            eprintln!("could not print the options: {err}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The name of a socket type, as C and PHP spell it.
fn type_name(ty: Type) -> String {
    if ty == Type::STREAM {
        "SOCK_STREAM".to_string()
    } else if ty == Type::DGRAM {
        "SOCK_DGRAM".to_string()
    } else {
        format!("{ty:?}")
    }
}

fn on_off(enabled: bool) -> String {
    if enabled { "on" } else { "off" }.to_string()
}

/// SO_LINGER: off, or on with the time close() may wait to send what is left.
fn linger(linger: Option<Duration>) -> String {
    match linger {
        None => "off".to_string(),
        Some(time) => format!("on, {} s", time.as_secs()),
    }
}

/// SO_RCVTIMEO and SO_SNDTIMEO: none means a read or write may wait forever.
fn timeout(timeout: Option<Duration>) -> String {
    match timeout {
        None => "none".to_string(),
        Some(time) => format!("{time:?}"),
    }
}
