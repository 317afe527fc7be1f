//! Exercise 4-2, a wrong answer: when the kernel's buffer is full, it naps
//! for a millisecond and tries write() again, instead of sleeping in poll()
//! until the socket is writable. It uses little CPU, but it wakes up a
//! thousand times a second for nothing. The tests must reject it.

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

/// Sends all of `message` on a non-blocking socket, and prints how far it
/// got after every write(). When the kernel's buffer is full, it naps and
/// tries again.
fn send_all(mut stream: &TcpStream, message: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < message.len() {
        match stream.write(&message[sent..]) {
            Ok(accepted) => {
                sent += accepted;
                say!("sent {sent} of {} bytes", message.len());
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                // Wrong: a nap, then try again, whether there is room or not.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
