//! Exercise 4-2 (your work): a client that sends BYTES bytes to a server
//! over a non-blocking socket, reporting its progress. The TODO comment
//! marks what to change.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;
use std::process::ExitCode;

/// Prints a line, as println! does, except that a closed stdout (`cargo run
/// ... | head -1`) ends the program with one line on stderr and status 1,
/// where println! would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

fn say(line: fmt::Arguments) {
    if let Err(err) = writeln!(io::stdout(), "{line}") {
        eprintln!("could not print: {err}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: ch04-exercise-send-all ADDR BYTES";

pub fn main() -> ExitCode {
    // The server's address, and how many bytes to send it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, bytes] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(bytes) = bytes.parse::<usize>() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };

    let stream = match TcpStream::connect(addr) {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("could not connect to {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // From here on, no call on `stream` waits: write() takes what fits in the
    // kernel's buffer, or fails with WouldBlock if nothing does.
    if let Err(err) = stream.set_nonblocking(true) {
        eprintln!("could not make the socket non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    // The byte at position i is i % 251, so the receiver can check them all.
    // Copied 251 bytes at a time, which takes milliseconds where a byte at a
    // time took seconds in a debug build.
    let pattern: Vec<u8> = (0..=250).collect();
    let mut message = Vec::with_capacity(bytes);
    while message.len() < bytes {
        let take = pattern.len().min(bytes - message.len());
        message.extend_from_slice(&pattern[..take]);
    }
    match send_all(&stream, &message) {
        Ok(()) => {
            say!("done");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("could not send to {addr}: {err}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: task
/// Sends all of `message` on a non-blocking socket, and prints how far it
/// got after every write().
fn send_all(mut stream: &TcpStream, message: &[u8]) -> io::Result<()> {
    // TODO: one write() takes only what fits in the kernel's buffer. Send
    // the rest too, printing progress after each write(), and when write()
    // fails with WouldBlock, wait until the socket is writable (poll() with
    // POLLOUT) instead of trying again at once, or napping between tries.
    let sent = match stream.write(message) {
        Ok(sent) => sent,
        Err(err) if err.kind() == ErrorKind::WouldBlock => 0,
        Err(err) => return Err(err),
    };
    say!("sent {sent} of {} bytes", message.len());
    Ok(())
}
// ANCHOR_END: task
