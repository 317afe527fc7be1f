// [starter]
// //! Exercise 6-2 (your work): Listing 6-1, to be turned into a chat room.
// //! Whoever sends a datagram becomes a member; every message is still
// //! answered with `OK <message>`, and also sent to every other member as
// //! `<sender>: <message>`; `/leave` ends membership. The TODO comments mark
// //! the spots.
// [solution]
//! Exercise 6-2 (the book's answer): Listing 6-1 as a chat room. Whoever
//! sends a datagram becomes a member; every message is still answered with
//! `OK <message>`, and also sent to every other member as
//! `<sender>: <message>`; `/leave` ends membership.
// [end]

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::process::ExitCode;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// No datagram is larger: UDP's length field has 16 bits.
const MAX_UDP_PAYLOAD: usize = 65_536;
/// The most a datagram can carry over IPv4: an IP packet is at most 65,535
/// bytes, less 20 of IP header and 8 of UDP header.
const MAX_DATAGRAM: usize = 65_507;

/// How much of a message the log shows. Enough to see what it was, and a
/// line of the log stays short: a write to a pipe blocks when the line is
/// longer than the room left in it, even after poll() said "writable".
const LOGGED_BYTES: usize = 512;

/// Every reply begins with these three bytes, and the server answers no
/// datagram that begins with them: they mark a datagram as a reply.
const REPLY: &[u8] = b"OK ";

// [starter]
// pub fn main() -> ExitCode {
// [solution]
pub fn main() -> ExitCode {
    // [end]
    // The address to listen on: the only argument, or loopback port 9999.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9999".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        // [starter]
        // eprintln!("usage: ch06-exercise-udp-chat [ADDR]");
        // [solution]
        eprintln!("usage: ch06-exercise-udp-chat [ADDR]");
        // [end]
        return ExitCode::from(2);
    }

    // socket(AF_INET, SOCK_DGRAM) and bind() in one call. There is no
    // listen(): a UDP socket has no connections to queue.
    let socket = match UdpSocket::bind(&addr) {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let local = match socket.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));

    // Room for the largest datagram: recv_from() discards whatever part of a
    // datagram does not fit, and nothing tells the sender.
    // [starter]
    // // ANCHOR: task
    // [solution]
    // [end]
    let mut buffer = vec![0u8; MAX_UDP_PAYLOAD];
    // [starter]
    // // TODO: remember the members: every address a datagram came from.
    // [solution]
    // ANCHOR: solution_members
    // There are no connections to tell us who is there: a member is an
    // address a datagram came from, until it says `/leave`.
    let mut members: Vec<SocketAddr> = Vec::new();
    // ANCHOR_END: solution_members
    // [end]
    loop {
        // One call, one whole datagram, and the address of whoever sent it.
        let (received, peer) = match socket.recv_from(&mut buffer) {
            Ok(datagram) => datagram,
            Err(err) => {
                warn(format_args!("could not receive: {err}"));
                continue;
            }
        };
        let message = &buffer[..received];
        let shown = shown(message);
        if let Some(reason) = not_to_answer(message, peer, local) {
            log(format_args!("{peer} -- {shown} (not answered: {reason})"));
            continue;
        }
        log(format_args!("{peer} -- {shown}"));

        // The whole message comes back, unless `OK ` makes it too large for
        // one datagram: then only as much as fits.
        let mut reply = REPLY.to_vec();
        reply.extend_from_slice(message);
        reply.truncate(MAX_DATAGRAM);
        if let Err(err) = socket.send_to(&reply, peer) {
            warn(format_args!("could not send to {peer}: {err}"));
        }
        // [starter]
        // // TODO: forget the sender if its message is `/leave` (with or
        // // without a line ending). Otherwise, send `<sender>: <message>` to
        // // every other member.
        // [solution]

        // ANCHOR: solution
        // `nc -u` sends `/leave` with its newline.
        if without_line_ending(message) == b"/leave" {
            members.retain(|member| *member != peer);
            continue;
        }
        if !members.contains(&peer) {
            members.push(peer);
        }
        let mut forward = format!("{peer}: ").into_bytes();
        forward.extend_from_slice(message);
        forward.truncate(MAX_DATAGRAM);
        for member in members.iter().filter(|member| **member != peer) {
            // A member that went away without `/leave` is not noticed: an
            // unconnected socket hears no "port unreachable", and the send
            // succeeds all the same.
            if let Err(err) = socket.send_to(&forward, member) {
                warn(format_args!("could not send to {member}: {err}"));
            }
        }
        // ANCHOR_END: solution
        // [end]
    }
    // [starter]
    // // ANCHOR_END: task
    // [solution]
    // [end]
}

/// Why the datagram `message`, which came from `peer`, must not be answered,
/// if it must not: answering it could start an exchange that never ends.
fn not_to_answer(
    message: &[u8],
    peer: SocketAddr,
    local: SocketAddr,
) -> Option<&'static str> {
    // Our own port, at our own address (or at any address, when we listen
    // on all of them): the reply would come back to us.
    if peer.port() == local.port()
        && (peer.ip() == local.ip() || local.ip().is_unspecified())
    {
        return Some("it comes from this server's own address");
    }
    // A reply, from a server like this one: if we answered it, it would
    // answer our answer, and so on.
    if message.starts_with(REPLY) {
        return Some("it is a reply");
    }
    // [starter]
    // [solution]
    // ANCHOR: solution_passed_on
    // What a room sends its members, `<sender>: <message>`, from another
    // room: if we passed it on, and it passed ours on, three rooms that
    // count each other as members would pass one message round for ever.
    if passed_on_by_a_room(message) {
        return Some("a room passed it on");
    }
    // ANCHOR_END: solution_passed_on
    // [end]
    None
}

// [starter]
// [solution]
// ANCHOR: solution_passed_on_by_a_room
/// Whether `message` begins with an address and `: `, as every message a
/// room passes on to its members does.
fn passed_on_by_a_room(message: &[u8]) -> bool {
    let Some(end) = message.windows(2).position(|pair| pair == b": ") else {
        return false;
    };
    std::str::from_utf8(&message[..end])
        .is_ok_and(|sender| sender.parse::<SocketAddr>().is_ok())
}
// ANCHOR_END: solution_passed_on_by_a_room

// [end]
/// The message as the log shows it: escaped, so that it cannot write on the
/// operator's terminal nor forge a line of the log; without its line
/// ending, if it has one; and cut if it is long.
fn shown(message: &[u8]) -> String {
    let message = without_line_ending(message);
    if message.len() <= LOGGED_BYTES {
        message.escape_ascii().to_string()
    } else {
        let start = message[..LOGGED_BYTES].escape_ascii();
        format!("{start}... ({} bytes)", message.len())
    }
}

/// `message` without the line ending it may have: `\n`, as `nc -u` sends a
/// line, or `\r\n`, as `nc -u -C` does.
fn without_line_ending(mut message: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = message {
        message = rest;
    }
    message
}

/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a server must not stop because its output is a
/// pipe nobody reads (a write would block), nor die because it is a
/// closed pipe (the write fails with EPIPE, and println! would panic).
fn log_to(mut out: impl Write + AsFd, line: fmt::Arguments) {
    let writable = {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO) == Ok(1)
    };
    if writable {
        let _ = writeln!(out, "{line}");
    }
}

/// The server's log: one line on stdout.
fn log(line: fmt::Arguments) {
    log_to(io::stdout(), line)
}

/// The server's errors: one line on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line)
}
