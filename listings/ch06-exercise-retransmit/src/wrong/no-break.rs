//! Exercise 6-1, a wrong answer: it sends every try, even after the reply
//! came, since nothing leaves the loop of tries once it has its answer.
//! Rejected by `a_message_answered_at_once_is_not_sent_again`.

use std::io::{self, BufRead, ErrorKind, IsTerminal, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long we wait for the first reply. Each try waits twice as long as
/// the one before: a busy network or server gets more time, not more load.
const FIRST_TIMEOUT: Duration = Duration::from_millis(100);
/// How many times we send a message before we call it lost.
const TRIES: u32 = 4;
/// The server cuts its replies to what fits in one IPv4 datagram.
const MAX_DATAGRAM: usize = 65_507;
/// Every reply begins with these three bytes, and no message may: the
/// server does not answer a datagram that looks like a reply.
const REPLY: &[u8] = b"OK ";

pub fn main() -> ExitCode {
    // The server's address: the only argument, or loopback port 9999.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9999".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch06-exercise-retransmit [ADDR]");
        return ExitCode::from(2);
    }
    let server = match addr.to_socket_addrs().map(|mut found| found.next()) {
        Ok(Some(server)) => server,
        Ok(None) => {
            eprintln!("could not resolve {addr}: no address");
            return ExitCode::FAILURE;
        }
        Err(err) => {
            eprintln!("could not resolve {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };

    // Any local address of the server's family, and port 0: the kernel
    // picks our port, as it does for a TCP client.
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(local) {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!("could not bind {local}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // connect() on a UDP socket sends nothing. It records the server's
    // address: send() goes there, recv() takes only the server's datagrams,
    // and an ICMP "port unreachable" from the server's host becomes an error.
    if let Err(err) = socket.connect(server) {
        eprintln!("could not connect to {addr}: {err}");
        return ExitCode::FAILURE;
    }

    // Like the original, ask for each message, but only someone who types
    // it: with input from a pipe or a file, nobody reads the prompts, and
    // they would run into the replies.
    let input = io::stdin();
    let interactive = input.is_terminal();
    let mut lines = input.lock().split(b'\n');
    let mut unanswered = 0;
    loop {
        if interactive {
            // A line without a newline stays in stdout's buffer until
            // flushed.
            let mut out = io::stdout();
            let asked = write!(out, "Enter a message to send : ")
                .and_then(|()| out.flush());
            if let Err(err) = asked {
                eprintln!("could not write to stdout: {err}");
                return ExitCode::FAILURE;
            }
        }
        let line = match lines.next() {
            None => break,
            Some(Ok(line)) => line,
            Some(Err(err)) => {
                eprintln!("could not read stdin: {err}");
                return ExitCode::FAILURE;
            }
        };
        // The datagram is the message: it needs no newline to end it.
        let message = line.strip_suffix(b"\r").unwrap_or(&line);
        if message.starts_with(REPLY) {
            eprintln!(
                "not sent: a message must not begin with \"OK \", \
                 as a reply does"
            );
            unanswered += 1;
            continue;
        }
        let mut timeout = FIRST_TIMEOUT;
        let mut reply = None;
        for _ in 0..TRIES {
            if let Err(err) = socket.send(message) {
                eprintln!("could not send to {addr}: {err}");
                return ExitCode::FAILURE;
            }
            match wait_for_reply(&socket, message, timeout) {
                Ok(Some(answer)) => {
                    reply = Some(answer);
                }
                Ok(None) => timeout *= 2,
                Err(err) => {
                    eprintln!("could not receive from {addr}: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }
        match reply {
            Some(reply) => {
                let shown = String::from_utf8_lossy(&reply);
                if let Err(err) = writeln!(io::stdout(), "Reply : {shown}") {
                    eprintln!("could not write to stdout: {err}");
                    return ExitCode::FAILURE;
                }
            }
            None => {
                eprintln!("no reply from {addr} after {TRIES} tries");
                unanswered += 1;
            }
        }
    }
    if unanswered > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Waits up to `limit` for the reply to `message`. A datagram that is not
/// that reply (a late reply to an earlier message, or a second reply to this
/// one when it was sent twice) is skipped.
fn wait_for_reply(
    socket: &UdpSocket,
    message: &[u8],
    limit: Duration,
) -> io::Result<Option<Vec<u8>>> {
    let mut expected = REPLY.to_vec();
    expected.extend_from_slice(message);
    expected.truncate(MAX_DATAGRAM);

    let deadline = Instant::now() + limit;
    let mut buffer = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        let received = match socket.recv(&mut buffer) {
            Ok(received) => received,
            Err(err) => match err.kind() {
                // The time is up: on Linux a read timeout is WouldBlock.
                ErrorKind::WouldBlock | ErrorKind::TimedOut => return Ok(None),
                // Stopped and continued (Ctrl-Z, then fg): wait on, for the
                // time that is left.
                ErrorKind::Interrupted => continue,
                _ => return Err(err),
            },
        };
        if buffer[..received] == expected[..] {
            return Ok(Some(expected));
        }
        // Escaped: whoever sent it chose its bytes, not us.
        eprintln!(
            "skipping a late reply: {}",
            buffer[..received].escape_ascii()
        );
    }
}
