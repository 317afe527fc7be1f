// [starter]
// //! Exercise 4-1 (your work): a server that sends every frame a client sends
// //! back to it. A frame is a 4-byte big-endian length and that many bytes.
// //! The TODO comment marks what to change.
// [solution]
//! Exercise 4-1 (the book's answer): a server that sends every frame a client
//! sends back to it. A frame is a 4-byte big-endian length and that many bytes.
// [end]

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The largest payload a client may announce.
const MAX_FRAME: usize = 65536;

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch04-exercise-read-frame [ADDR]");
        return ExitCode::from(2);
    }
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    // How long to wait before accept() is tried again, when it failed for
    // want of descriptors (chapter 1 explains why).
    let mut pause = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(call) => {
                pause = Duration::from_millis(10);
                call
            }
            Err(err) => {
                warn(format_args!(
                    "could not accept a connection on {local}: {err}"
                ));
                if is_out_of_descriptors(&err) {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                continue;
            }
        };
        log(format_args!("client {peer} is now connected"));
        match echo_frames(&stream) {
            Ok(frames) => {
                log(format_args!("client {peer} hung up after {frames} frames"))
            }
            Err(message) => warn(format_args!("client {peer}: {message}")),
        }
    }
}

/// Sends every frame back, until the client hangs up between two frames.
/// Returns how many frames there were.
fn echo_frames(mut stream: &TcpStream) -> Result<usize, String> {
    let mut frames = 0;
    while let Some(payload) = read_frame(&mut stream)? {
        // The whole frame in one buffer, sent with one write: a length and
        // a payload in two writes would wait for a delayed ACK each time
        // (chapter 4, Listing 4-5).
        let length = payload.len() as u32; // at most MAX_FRAME
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&payload);
        stream
            .write_all(&frame)
            .map_err(|err| format!("could not write: {err}"))?;
        frames += 1;
    }
    Ok(frames)
}

// [starter]
// // ANCHOR: task
// [solution]
// ANCHOR: solution
// [end]
/// Reads one frame: a length of 4 bytes, big-endian, then that many bytes of
/// payload. Returns `None` if the stream ends before a frame begins.
fn read_frame(stream: &mut impl Read) -> Result<Option<Vec<u8>>, String> {
    // [starter]
    // // TODO: this trusts each read() to return all the bytes asked for.
    // // Make it wait for the whole header and the whole payload, and report a
    // // client that hangs up in the middle of a frame as an error:
    // // "hung up in the middle of a frame".
    // [solution]
    // The header may come in pieces too. Count what we have, so that the end
    // of the stream before the first byte (a goodbye) can be told from an end
    // in the middle (an error).
    // [end]
    let mut header = [0u8; 4];
    // [starter]
    // match stream.read(&mut header) {
    //     Ok(0) => return Ok(None),
    //     Ok(_) => {}
    //     Err(err) if err.kind() == ErrorKind::Interrupted => {}
    //     Err(err) => return Err(format!("could not read: {err}")),
    // [solution]
    let mut filled = 0;
    while filled < header.len() {
        match stream.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err("hung up in the middle of a frame".to_string()),
            Ok(got) => filled += got,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(format!("could not read: {err}")),
        }
        // [end]
    }
    let length = u32::from_be_bytes(header) as usize;
    if length > MAX_FRAME {
        return Err(format!(
            "announced a frame of {length} bytes; the limit is {MAX_FRAME}"
        ));
    }
    // [starter]
    // [solution]
    // read_exact() loops until the payload is complete, and reports an end
    // of stream before that as UnexpectedEof.
    // [end]
    let mut payload = vec![0u8; length];
    // [starter]
    // let got = stream
    //     .read(&mut payload)
    //     .map_err(|err| format!("could not read: {err}"))?;
    // payload.truncate(got);
    // [solution]
    stream.read_exact(&mut payload).map_err(|err| {
        if err.kind() == ErrorKind::UnexpectedEof {
            "hung up in the middle of a frame".to_string()
        } else {
            format!("could not read: {err}")
        }
    })?;
    // [end]
    Ok(Some(payload))
}
// [starter]
// // ANCHOR_END: task
// [solution]
// ANCHOR_END: solution
// [end]

/// Whether accept() failed because the process (EMFILE) or the system
/// (ENFILE) has no descriptor left: the connection then stays queued, and
/// accept() would fail again at once.
fn is_out_of_descriptors(err: &io::Error) -> bool {
    let errno = err.raw_os_error();
    errno == Some(Errno::EMFILE as i32) || errno == Some(Errno::ENFILE as i32)
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

/// A line of the server's log, on stdout.
fn log(line: fmt::Arguments) {
    log_to(io::stdout(), line)
}

/// A line about an error, on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line)
}
