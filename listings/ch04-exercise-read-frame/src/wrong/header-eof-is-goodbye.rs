//! Exercise 4-1, a wrong answer: it reads the header with read_exact() too,
//! and takes its UnexpectedEof for a goodbye. But read_exact() says the same
//! whether the stream ended before the first byte of the header or after the
//! second: a client that hangs up in the middle of a header is taken for one
//! that said goodbye. The tests must reject it.

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

/// Reads one frame: a length of 4 bytes, big-endian, then that many bytes of
/// payload. Returns `None` if the stream ends before a frame begins.
fn read_frame(stream: &mut impl Read) -> Result<Option<Vec<u8>>, String> {
    // Wrong: an end of the stream anywhere in the header is taken for a
    // goodbye.
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(format!("could not read: {err}")),
    }
    let length = u32::from_be_bytes(header) as usize;
    if length > MAX_FRAME {
        return Err(format!(
            "announced a frame of {length} bytes; the limit is {MAX_FRAME}"
        ));
    }
    // read_exact() loops until the payload is complete, and reports an end
    // of stream before that as UnexpectedEof.
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).map_err(|err| {
        if err.kind() == ErrorKind::UnexpectedEof {
            "hung up in the middle of a frame".to_string()
        } else {
            format!("could not read: {err}")
        }
    })?;
    Ok(Some(payload))
}

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
