//! Listing 4-1: what a blocking read() returns. Over a real TCP connection on
//! loopback, it shows that read() returns whatever has arrived, up to the
//! length asked, and that read_exact() and a length prefix wait for the rest.
//!
//! Run it with `cargo run -p ch04-short-reads`. It needs no server: it makes
//! its own connection and plays both ends.

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

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    short_reads()?;
    read_exact()?;
    length_prefix()
}

/// A TCP connection on loopback: (the writing end, the reading end).
fn connection() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let writer = TcpStream::connect(listener.local_addr()?)?;
    let (reader, _) = listener.accept()?;
    Ok((writer, reader))
}

/// Shows what read() returned.
fn show(call: &str, asked: usize, got: &[u8]) {
    say!(
        "{call} with room for {asked} bytes returned {}: {:?}",
        got.len(),
        String::from_utf8_lossy(got)
    );
}

// ANCHOR: short_reads
/// read() returns what has arrived, up to the length asked: no more, and
/// quite possibly less.
fn short_reads() -> io::Result<()> {
    let (mut writer, mut reader) = connection()?;
    let mut buffer = [0u8; 64];

    // A 14-byte message, written in two parts. Each read() returns one part:
    // it does not wait for the buffer to fill, only for something to arrive.
    for part in ["Hello, ", "world!\n"] {
        writer.write_all(part.as_bytes())?;
        say!("the writer sends {} bytes", part.len());
        let got = reader.read(&mut buffer)?;
        show("read()", buffer.len(), &buffer[..got]);
    }

    // The same message in one write. A read() with room for 4 bytes takes 4;
    // the other 10 wait in the kernel for the next read().
    writer.write_all(b"Hello, world!\n")?;
    say!("the writer sends 14 bytes");
    let mut small = [0u8; 4];
    let got = reader.read(&mut small)?;
    show("read()", small.len(), &small[..got]);
    let got = reader.read(&mut buffer)?;
    show("read()", buffer.len(), &buffer[..got]);
    Ok(())
}
// ANCHOR_END: short_reads

// ANCHOR: read_exact
/// read_exact() calls read() until the buffer is full.
fn read_exact() -> io::Result<()> {
    let (mut writer, mut reader) = connection()?;
    say!("a thread sends \"Hello, \" now and \"world!\\n\" 100 ms later");
    let started = Instant::now();
    let sender = thread::spawn(move || -> io::Result<()> {
        writer.write_all(b"Hello, ")?;
        thread::sleep(Duration::from_millis(100));
        writer.write_all(b"world!\n")
    });
    let mut message = [0u8; 14];
    reader.read_exact(&mut message)?;
    say!(
        "read_exact() with room for 14 bytes returned after {:.1?}: {:?}",
        started.elapsed(),
        String::from_utf8_lossy(&message)
    );
    sender
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the sender panicked")))
}
// ANCHOR_END: read_exact

// ANCHOR: length_prefix
/// Sends `message` after its length, as 4 bytes in network byte order, in
/// one write: a length and a message in two writes can make each exchange
/// wait some 40 ms (Listing 4-5 shows why).
fn write_message(stream: &mut TcpStream, message: &[u8]) -> io::Result<()> {
    let length = u32::try_from(message.len()).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + message.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(message);
    stream.write_all(&frame)
}

/// Reads one message sent by `write_message`: first the length, then exactly
/// that many bytes, however many reads each takes.
fn read_message(stream: &mut TcpStream, limit: usize) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let length = u32::from_be_bytes(length) as usize;
    // The length comes from the network: never trust it with our memory.
    if length > limit {
        return Err(io::Error::other(format!(
            "a message of {length} bytes is over the limit of {limit}"
        )));
    }
    let mut message = vec![0u8; length];
    stream.read_exact(&mut message)?;
    Ok(message)
}
// ANCHOR_END: length_prefix

fn length_prefix() -> io::Result<()> {
    let (mut writer, mut reader) = connection()?;
    // Two messages, sent back to back: the reader gets them apart by length.
    say!("the writer sends two messages, each after its length");
    write_message(&mut writer, b"first message")?;
    write_message(&mut writer, b"second")?;
    for _ in 0..2 {
        let message = read_message(&mut reader, 1024)?;
        say!(
            "read_message() returned {} bytes: {:?}",
            message.len(),
            String::from_utf8_lossy(&message)
        );
    }
    Ok(())
}
