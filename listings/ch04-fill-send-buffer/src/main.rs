//! Listing 4-2: what a non-blocking write() does when the peer does not read.
//! Over a real TCP connection on loopback, the writer fills the kernel's
//! buffers until write() takes only part of a chunk and then fails with
//! WouldBlock. Then the peer reads, slowly, and the writer sends 16 MiB more
//! the way a non-blocking server must: it keeps what the kernel would not
//! take, and waits with poll() until there is room.
//!
//! Run it with `cargo run -p ch04-fill-send-buffer`. The numbers depend on
//! the kernel and its settings.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::SockRef;

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

/// The size of each write() in the first part.
const CHUNK: usize = 64 * 1024;
/// What the second part sends.
const MORE: usize = 16 * 1024 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// The byte at position `index` of everything the writer sends, so that the
/// reader can check that every byte arrived, once, in order.
fn byte_at(index: usize) -> u8 {
    (index % 251) as u8
}

fn run() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let writer = TcpStream::connect(listener.local_addr()?)?;
    let (reader, _) = listener.accept()?;

    let filled = fill(&writer)?;
    // The kernel's buffer sizes, as getsockopt() reports them. Linux grows
    // them as a connection needs, up to the limits in net.ipv4.tcp_wmem and
    // tcp_rmem.
    let send_buffer = SockRef::from(&writer).send_buffer_size()?;
    let receive_buffer = SockRef::from(&reader).recv_buffer_size()?;
    say!(
        "SO_SNDBUF of the writer: {send_buffer} bytes; SO_RCVBUF of the \
         reader: {receive_buffer} bytes"
    );

    // ANCHOR: drain
    // Now the other end reads: 64 KiB, then a millisecond's pause, and again,
    // so that it stays slower than the writer.
    say!(
        "now the other end reads, slowly, and the writer sends {MORE} bytes \
         more"
    );
    let expected = filled + MORE;
    let drainer = thread::spawn(move || read_everything(reader, expected));
    let message: Vec<u8> = (filled..expected).map(byte_at).collect();
    let (writes, waits) = send_all(&writer, &message)?;
    say!(
        "the writer called write() {writes} times and waited in poll() {waits} \
         times"
    );
    drop(writer); // the end of the stream, for the reader
    let received = drainer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the reader panicked")))?;
    say!("the reader got {received} bytes, every one in order");
    // ANCHOR_END: drain
    Ok(())
}

// ANCHOR: fill
/// Writes chunks without blocking until the kernel takes no more; returns
/// how many bytes it took.
fn fill(mut writer: &TcpStream) -> io::Result<usize> {
    writer.set_nonblocking(true)?;
    say!(
        "nobody reads the other end; the writer writes {CHUNK}-byte chunks \
         without blocking"
    );
    let mut taken = 0;
    let mut calls = 0;
    let mut last = 0;
    let failure = loop {
        let chunk: Vec<u8> = (taken..taken + CHUNK).map(byte_at).collect();
        match writer.write(&chunk) {
            Ok(accepted) => {
                taken += accepted;
                calls += 1;
                last = accepted;
            }
            Err(err) => break err,
        }
    };
    say!(
        "{calls} calls took {taken} bytes in all; the last one took {last} of \
         its {CHUNK}"
    );
    say!("the next write() failed: {failure} ({:?})", failure.kind());
    if failure.kind() != ErrorKind::WouldBlock {
        return Err(failure);
    }
    Ok(taken)
}
// ANCHOR_END: fill

// ANCHOR: send_all
/// Sends all of `message` on a non-blocking socket. What write() does not
/// take stays in `pending`; when write() would block, poll() sleeps until the
/// socket is writable again. Returns the numbers of write() and poll() calls.
fn send_all(
    mut writer: &TcpStream,
    message: &[u8],
) -> io::Result<(usize, usize)> {
    let mut pending = message;
    let (mut writes, mut waits) = (0, 0);
    while !pending.is_empty() {
        writes += 1;
        match writer.write(pending) {
            Ok(accepted) => pending = &pending[accepted..],
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                // A server serving many clients would not wait here for one:
                // it would keep `pending` with the client, and wait for all
                // its sockets at once (chapter 5).
                waits += 1;
                let mut wanted =
                    [PollFd::new(writer.as_fd(), PollFlags::POLLOUT)];
                poll(&mut wanted, PollTimeout::NONE)?;
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok((writes, waits))
}
// ANCHOR_END: send_all

/// Reads until the end of the stream, slowly, checking every byte.
fn read_everything(
    mut reader: TcpStream,
    expected: usize,
) -> io::Result<usize> {
    let mut received = 0;
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let got = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(got) => got,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if (0..got).any(|at| chunk[at] != byte_at(received + at)) {
            return Err(io::Error::other(format!(
                "wrong byte after {received} bytes"
            )));
        }
        received += got;
        thread::sleep(Duration::from_millis(1));
    }
    if received != expected {
        return Err(io::Error::other(format!(
            "the reader got {received} bytes instead of {expected}"
        )));
    }
    Ok(received)
}
