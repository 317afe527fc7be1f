//! What a thread does for one client of chapter 11's servers: Listing 5-1's
//! protocol, spoken with blocking calls. A welcome of two lines, `OK ...
//! <line>` for every line, a line longer than 1024 bytes turned away after
//! the replies owed. A client silent for too long, or one that stops
//! reading its replies, is let go.
//!
//! Listing 11-1 runs `serve` on a thread of its own for each client, and
//! Listing 11-2 on a pool of threads. Both log through `log` and `warn`.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::sync::mpsc::{self, SyncSender};
use std::thread;
use std::time::Duration;

/// The longest line a client may send, newline included.
pub const MAX_LINE: usize = 1024;

/// The original's welcome, word for word, as Listing 5-1 sends it.
pub const WELCOME: &[u8] = b"Welcome to php socket server version 1.0 \n\
    Enter a message and press enter, and i shall reply back \n";
/// What a client hears when the server cannot take it on.
pub const FULL: &[u8] = b"Sorry, the server is full. Try again later.\n";
/// What a client hears when it has been silent for too long.
pub const IDLE: &[u8] = b"Sorry, you have been idle too long. Goodbye.\n";
pub const TOO_LONG: &[u8] =
    b"Sorry, a line may be at most 1024 bytes. Goodbye.\n";

// ANCHOR: ending
/// How a client's visit ended, when it ended well enough to say goodbye.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client closed its side, and had every reply it was owed.
    Disconnected,
    /// It sent nothing for the whole idle time, and was told so.
    Idle,
    /// Its line was too long: it was told so after its replies.
    TooLong,
}
// ANCHOR_END: ending

// ANCHOR: serve
/// Serves one client until it leaves. `answer` is given each line, without
/// its line ending, and appends the reply to the replies of this read:
/// [`ok`] for Listing 5-1's `OK ... <line>`. Every call blocks, and every
/// wait is bounded by `max_idle`: a read by the socket's read timeout, a
/// write by its write timeout. Returns how the visit ended, or why the
/// client was dropped.
pub fn serve(
    stream: &TcpStream,
    max_idle: Duration,
    mut answer: impl FnMut(&[u8], &mut Vec<u8>),
) -> Result<Ending, String> {
    // `&TcpStream` reads and writes: no `mut`, no second descriptor.
    let mut socket = stream;
    let timeouts = socket
        .set_read_timeout(Some(max_idle))
        .and_then(|()| socket.set_write_timeout(Some(max_idle)));
    timeouts.map_err(|err| format!("could not set timeouts: {err}"))?;
    send(socket, WELCOME, max_idle)?;
    // What came after the last newline: at most MAX_LINE - 1 bytes, plus
    // one chunk, before the check below turns the client away.
    let mut partial_line = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let received = match socket.read(&mut chunk) {
            Ok(received) => received,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            // The read timeout: the client said nothing for `max_idle`.
            Err(err) if is_timeout(&err) => {
                send(socket, IDLE, max_idle)?;
                return Ok(Ending::Idle);
            }
            Err(err) => return Err(format!("could not read: {err}")),
        };
        let mut replies = Vec::new();
        if received == 0 {
            // End of stream: what came after the last newline is the
            // client's last line.
            if !partial_line.is_empty() {
                answer(without_ending(&partial_line), &mut replies);
            }
            send(socket, &replies, max_idle)?;
            return Ok(Ending::Disconnected);
        }
        partial_line.extend_from_slice(&chunk[..received]);
        let mut too_long = false;
        while let Some(end) = partial_line.iter().position(|&b| b == b'\n') {
            if end + 1 > MAX_LINE {
                too_long = true;
                break;
            }
            let line: Vec<u8> = partial_line.drain(..=end).collect();
            answer(without_ending(&line), &mut replies);
        }
        too_long |= partial_line.len() >= MAX_LINE;
        // One write for all the replies this read brought.
        send(socket, &replies, max_idle)?;
        if too_long {
            send(socket, TOO_LONG, max_idle)?;
            say_goodbye(socket);
            return Ok(Ending::TooLong);
        }
    }
}
// ANCHOR_END: serve

/// A line without its line ending: `\n`, or telnet's `\r\n`.
fn without_ending(line: &[u8]) -> &[u8] {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    text.strip_suffix(b"\r").unwrap_or(text)
}

/// Listing 5-1's answer: appends `OK ... <line>` to `replies`.
pub fn ok(line: &[u8], replies: &mut Vec<u8>) {
    replies.extend_from_slice(b"OK ... ");
    replies.extend_from_slice(line);
    replies.push(b'\n');
}

// ANCHOR: send
/// Writes all of `bytes`, blocking while the client's buffers are full, but
/// no longer than the write timeout: a client that takes none of its
/// replies for `max_idle` is dropped. The thread waits, and no buffer of
/// ours grows: what the client does not read stays in its socket buffers.
fn send(
    mut socket: &TcpStream,
    bytes: &[u8],
    max_idle: Duration,
) -> Result<(), String> {
    match socket.write_all(bytes) {
        Ok(()) => Ok(()),
        Err(err) if is_timeout(&err) => Err(format!(
            "took none of its replies for {} s",
            max_idle.as_secs()
        )),
        Err(err) => Err(format!("could not write: {err}")),
    }
}
// ANCHOR_END: send

/// After the goodbye, the client reads the end of the stream; we read and
/// throw away what it still sends until it closes (or goes silent for the
/// idle time). Closing on unread input would reset the connection, and its
/// kernel could throw away our goodbye before it was read.
fn say_goodbye(mut socket: &TcpStream) {
    if socket.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let mut chunk = [0u8; 4096];
    loop {
        match socket.read(&mut chunk) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Whether an error is a socket timeout: Linux reports an expired
/// `SO_RCVTIMEO` or `SO_SNDTIMEO` as EAGAIN (WouldBlock), other systems as
/// ETIMEDOUT.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Whether accept() failed because the process (EMFILE) or the whole system
/// (ENFILE) has no descriptor left.
pub fn is_out_of_files(err: &io::Error) -> bool {
    // 24 and 23 on Linux; std names neither.
    matches!(err.raw_os_error(), Some(24 | 23))
}

// ANCHOR: log
/// How many lines of log may wait for a slow reader before new ones are
/// dropped.
const LOG_BACKLOG: usize = 1024;

/// What the writer thread is given: a line, or a request to say when it
/// has written every line before it.
enum ToWriter {
    Line(String),
    Flush(SyncSender<()>),
}

type Writer = Option<SyncSender<ToWriter>>;

/// The writer of stdout, started by the first line.
fn stdout_writer() -> &'static Writer {
    static STDOUT: OnceLock<Writer> = OnceLock::new();
    STDOUT.get_or_init(|| start_writer("stdout", io::stdout))
}

/// The writer of stderr, started by the first line.
fn stderr_writer() -> &'static Writer {
    static STDERR: OnceLock<Writer> = OnceLock::new();
    STDERR.get_or_init(|| start_writer("stderr", io::stderr))
}

/// A line of the server's log, on stdout.
pub fn log(line: fmt::Arguments) {
    hand_over(stdout_writer(), line);
}

/// A line about an error, on stderr.
pub fn warn(line: fmt::Arguments) {
    hand_over(stderr_writer(), line);
}

/// Gives a line to the writer thread, if it has room for it; drops it
/// otherwise. Never blocks: a thread that serves a client, or accepts
/// them, never waits for the log.
fn hand_over(writer: &Writer, line: fmt::Arguments) {
    if let Some(writer) = writer {
        let _ = writer.try_send(ToWriter::Line(format!("{line}\n")));
    }
}

/// Starts the thread that writes the lines it is given to `out`. It is
/// the only thread that ever waits for a pipe nobody reads, and it ignores
/// errors: a closed pipe fails every write (EPIPE) and stops nothing.
/// `None` if the thread cannot be started: the log is then lost.
fn start_writer<W: Write + 'static>(name: &str, out: fn() -> W) -> Writer {
    let (sender, receiver) = mpsc::sync_channel(LOG_BACKLOG);
    let writer = move || {
        let mut out = out();
        for message in receiver {
            match message {
                ToWriter::Line(line) => {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.flush();
                }
                ToWriter::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    };
    let started = thread::Builder::new()
        .name(format!("log to {name}"))
        .spawn(writer);
    started.ok().map(|_| sender)
}
// ANCHOR_END: log

/// Waits, for at most `limit` each, until the lines logged so far on stdout
/// and stderr are written: for a server about to exit, whose writer
/// threads end with it. A log nobody reads is given up on.
pub fn flush_log(limit: Duration) {
    for writer in [stdout_writer(), stderr_writer()].into_iter().flatten() {
        let (done, written) = mpsc::sync_channel(1);
        if writer.try_send(ToWriter::Flush(done)).is_ok() {
            let _ = written.recv_timeout(limit);
        }
    }
}
