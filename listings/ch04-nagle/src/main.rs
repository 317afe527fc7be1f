//! Listing 4-5: why a message goes out in one write. A client sends ROUNDS
//! frames (a 4-byte length and 100 bytes of payload) to an echo thread and
//! waits for each reply before it sends the next frame. It does so three
//! ways, and prints how long each took: with the length and the payload in
//! two writes; in one write; and in two writes with TCP_NODELAY.
//!
//! Run it with `cargo run -p ch04-nagle [ROUNDS]` (default 20). It needs no
//! server: it makes its own on loopback.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

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

/// The payload of every frame.
const PAYLOAD: [u8; 100] = [b'x'; 100];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let rounds = match args.next().map(|text| text.parse::<u32>()) {
        None => 20,
        Some(Ok(rounds)) if rounds > 0 => rounds,
        Some(_) => return usage(),
    };
    if args.next().is_some() {
        return usage();
    }
    match run(rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: ch04-nagle [ROUNDS]");
    ExitCode::from(2)
}

/// How the client sends a frame.
#[derive(Clone, Copy)]
enum Way {
    TwoWrites,
    OneWrite,
    TwoWritesNoDelay,
}

impl fmt::Display for Way {
    fn fmt(&self, out: &mut fmt::Formatter) -> fmt::Result {
        out.write_str(match self {
            Way::TwoWrites => "two writes a frame",
            Way::OneWrite => "one write a frame",
            Way::TwoWritesNoDelay => "two writes, TCP_NODELAY",
        })
    }
}

fn run(rounds: u32) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // The echo thread answers every frame with one write, whatever the way.
    thread::spawn(move || echo_every_connection(listener));
    say!(
        "{rounds} round trips: a frame of a 4-byte length and {} bytes, and \
         its echo",
        PAYLOAD.len()
    );
    for way in [Way::TwoWrites, Way::OneWrite, Way::TwoWritesNoDelay] {
        let mut client = TcpStream::connect(addr)?;
        let took = round_trips(&mut client, way, rounds)?;
        let each = took / rounds;
        say!(
            "{:<25}{:.3} ms in all, {:.3} ms a round trip",
            format!("{way}:"),
            took.as_secs_f64() * 1000.0,
            each.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

// ANCHOR: send
/// Sends `rounds` frames the way `way` says, reading each reply before the
/// next frame; returns how long it all took.
fn round_trips(
    client: &mut TcpStream,
    way: Way,
    rounds: u32,
) -> io::Result<Duration> {
    let header = (PAYLOAD.len() as u32).to_be_bytes();
    if let Way::TwoWritesNoDelay = way {
        // Turn Nagle's algorithm off: every write goes out at once.
        client.set_nodelay(true)?;
    }
    let started = Instant::now();
    for _ in 0..rounds {
        match way {
            // The length, then the payload: two small segments.
            Way::TwoWrites | Way::TwoWritesNoDelay => {
                client.write_all(&header)?;
                client.write_all(&PAYLOAD)?;
            }
            // The whole frame built first, then one write: one segment.
            Way::OneWrite => {
                let mut frame = Vec::with_capacity(4 + PAYLOAD.len());
                frame.extend_from_slice(&header);
                frame.extend_from_slice(&PAYLOAD);
                client.write_all(&frame)?;
            }
        }
        let mut reply = [0u8; 4 + PAYLOAD.len()];
        client.read_exact(&mut reply)?;
    }
    Ok(started.elapsed())
}
// ANCHOR_END: send

/// The echo server: reads frames and sends each back in one write, until the
/// client hangs up; then serves the next client. If accept() fails, the
/// thread ends, and the client's connection fails with it.
fn echo_every_connection(listener: TcpListener) {
    for connection in listener.incoming() {
        let Ok(mut connection) = connection else {
            return;
        };
        let mut frame = [0u8; 4 + PAYLOAD.len()];
        while connection.read_exact(&mut frame).is_ok() {
            if connection.write_all(&frame).is_err() {
                break;
            }
        }
    }
}
