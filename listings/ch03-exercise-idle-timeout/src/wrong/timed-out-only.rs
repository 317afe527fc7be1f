//! Exercise 3-1, a wrong answer: it sets the read timeout, but looks for the
//! timeout as ErrorKind::TimedOut only. On Linux a read that times out fails
//! with EAGAIN, which Rust calls WouldBlock, so the silent client is dropped
//! as if reading had failed, without being told why. The tests must reject
//! it.

use std::fmt;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Socket, Type};

/// The longest line we echo: the bytes before its `\n`, a telnet `\r` among
/// them.
const MAX_LINE: usize = 1024;

/// How long a client may say nothing before we hang up: the number of
/// milliseconds in the environment variable ECHO_IDLE_MS, or 30 seconds.
/// Zero is refused: to the kernel, a read timeout of zero means none at all.
fn idle_limit() -> Result<Duration, String> {
    let Some(value) = std::env::var_os("ECHO_IDLE_MS") else {
        return Ok(Duration::from_secs(30));
    };
    match value.to_str().map(str::parse::<u64>) {
        Some(Ok(ms)) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "ECHO_IDLE_MS must be a number of milliseconds, 1 or more, \
             not {value:?}"
        )),
    }
}

pub fn main() -> ExitCode {
    // Step 1: the address and port to listen on, from the command line. Any
    // free port will do; below 1024 needs root.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch03-exercise-idle-timeout [ADDR]"));
        return ExitCode::from(2);
    }
    let idle = match idle_limit() {
        Ok(idle) => idle,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };
    // A name such as localhost:5000 may stand for several addresses; we
    // listen on the first.
    let first = addr.to_socket_addrs().map(|mut found| found.next());
    let local: SocketAddr = match first {
        Ok(Some(local)) => local,
        Ok(None) => {
            warn(format_args!("could not resolve {addr}: no address found"));
            return ExitCode::FAILURE;
        }
        Err(err) => {
            warn(format_args!("could not resolve {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    // Step 2 has no Rust counterpart: a Rust program has no time limit to
    // lift (PHP's set_time_limit(0)).

    let listener = match listen(local) {
        Ok(listener) => listener,
        Err(err) => {
            warn(format_args!("could not bind {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let bound = match listener.local_addr() {
        Ok(bound) => bound,
        Err(err) => {
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {bound}"));

    // Out of descriptors, accept() pauses before it tries again (chapter 1).
    let mut pause = FIRST_PAUSE;
    loop {
        // Step 6: accept() a client. It returns a new socket for this one
        // conversation; `listener` goes on listening.
        let (connection, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                warn(format_args!(
                    "could not accept a connection on {bound}: {err}"
                ));
                pause_if_out_of_descriptors(&err, &mut pause);
                continue;
            }
        };
        pause = FIRST_PAUSE;
        log(format_args!("client {peer} is now connected"));

        // Steps 7 and 8: read lines and write them back, until the client
        // hangs up or breaks the rules.
        // Every read() on this connection now waits at most `idle`.
        if let Err(err) = connection.set_read_timeout(Some(idle)) {
            warn(format_args!(
                "could not set a read timeout for {peer}: {err}"
            ));
            continue;
        }
        match echo_lines(&connection, peer, idle) {
            Ok(lines) => {
                log(format_args!("client {peer} hung up after {lines} lines"))
            }
            Err(message) => warn(format_args!("{message}")),
        }
        // Step 9: `connection` is dropped here, which closes it. The
        // listening socket is closed when the program ends.
    }
}

/// Steps 3 to 5: socket(), bind() and listen(), one call each. (Chapter 1's
/// TcpListener::bind() makes the same calls.)
fn listen(local: SocketAddr) -> std::io::Result<TcpListener> {
    // Step 3: a stream socket for IPv4 or IPv6, whichever the address is.
    // Protocol 0 (None), as in the walkthrough's socket_create(AF_INET,
    // SOCK_STREAM, 0), means the type's default protocol: TCP.
    let socket = Socket::new(Domain::for_address(local), Type::STREAM, None)?;
    // Let a restarted server bind the port at once, even while connections
    // of its previous run linger in TIME_WAIT (chapter 2).
    socket.set_reuse_address(true)?;
    // Step 4: bind() it to the address and port.
    socket.bind(&local.into())?;
    // Step 5: listen(). Up to 128 finished connections may wait for accept();
    // the walkthrough's 3 would make a fifth waiting client's connect() stall.
    socket.listen(128)?;
    // From here on, the standard library's listener does the same job.
    Ok(TcpListener::from(socket))
}

/// Sends every line the client sends back to it, and returns how many lines
/// there were once the client has hung up. The error says what went wrong.
fn echo_lines(
    connection: &TcpStream,
    peer: SocketAddr,
    idle: Duration,
) -> Result<usize, String> {
    // The BufReader asks the kernel for big chunks and hands them out line by
    // line: the Rust form of PHP's socket_read(..., PHP_NORMAL_READ).
    let mut reader = BufReader::new(connection);
    let mut writer = connection;
    let mut lines = 0;
    loop {
        // Step 7: read one line, but never look at more than MAX_LINE + 1
        // bytes of it: a client that never sends a newline cannot make us
        // buffer without end.
        let mut line = Vec::new();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line);
        match read {
            Ok(_) => {}
            // Wrong: Linux reports the timeout as WouldBlock, not TimedOut.
            Err(err) if err.kind() == ErrorKind::TimedOut => {
                // We hang up anyway, so a failed write changes nothing.
                let _ = writer.write_all(b"ERROR idle for too long\n");
                return Err(format!(
                    "client {peer} said nothing for {} ms; hanging up",
                    idle.as_millis()
                ));
            }
            Err(err) => {
                return Err(format!("could not read from {peer}: {err}"));
            }
        }
        if line.is_empty() {
            return Ok(lines); // read() returned 0: the client hung up.
        }
        if !line.ends_with(b"\n") && line.len() > MAX_LINE {
            let error = format!("ERROR line longer than {MAX_LINE} bytes\n");
            // We hang up anyway, so a failed write changes nothing.
            let _ = writer.write_all(error.as_bytes());
            return Err(format!(
                "client {peer} sent a line longer than {MAX_LINE} bytes; \
                 hanging up"
            ));
        }
        // Step 8: write it back, exactly as it came: `\r\n`, bytes that are
        // not UTF-8, and a last line without a newline included.
        writer
            .write_all(&line)
            .map_err(|err| format!("could not write to {peer}: {err}"))?;
        lines += 1;
    }
}

/// The pause before trying accept() again, when it failed for want of a
/// descriptor: 10 ms at first, twice as long after each failure in a row,
/// never more than a second. (Chapter 1, "When descriptors run out".)
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// After a failed accept(): if the process (EMFILE) or the whole system
/// (ENFILE) is out of descriptors, the call is still in the queue and
/// accept() would fail again at once. So sleep for `pause` first, and make
/// the next pause longer. Any other failure concerns one client: no pause.
fn pause_if_out_of_descriptors(err: &io::Error, pause: &mut Duration) {
    let errno = err.raw_os_error().map(Errno::from_raw);
    if matches!(errno, Some(Errno::EMFILE | Errno::ENFILE)) {
        thread::sleep(*pause);
        *pause = (*pause * 2).min(LONGEST_PAUSE);
    }
}

/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a server must not stop because its output is a
/// pipe nobody reads (a write would block), nor die because it is a
/// closed pipe (the write fails with EPIPE, and println! would panic).
/// (Chapter 1, "When nobody reads the log".)
fn log_to(mut out: impl Write + AsFd, line: fmt::Arguments) {
    let writable = {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO) == Ok(1)
    };
    if writable {
        let _ = writeln!(out, "{line}");
    }
}

/// The server's log: what happens, on stdout.
fn log(line: fmt::Arguments) {
    log_to(io::stdout(), line);
}

/// What goes wrong, on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line);
}
