//! Exercise 9-1 (the book's answer): Listing 9-1, changed so that a client
//! who calls while every slot is busy is told so at once and hung up on,
//! instead of waiting in the listen queue.

use std::env::{self, VarError};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::{self, ExitCode};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// The longest line echoed in one piece, as the original's `fgets($conn,
/// 4096)`.
const MAX_LINE: u64 = 4096;
/// How long a child keeps reading after `quit`, for the client to close.
const LINGER: Duration = Duration::from_secs(2);

/// A child serving one client, as the parent sees it.
struct Child {
    pid: Pid,
    /// The parent's end of the socket pair this child, and only this child,
    /// holds the other end of.
    pair: UnixStream,
    /// What the child has told us so far.
    report: Vec<u8>,
}

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback and the port
    // in PORT (8080 if unset), as in the original.
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch09-exercise-busy-signal [ADDR]");
        return ExitCode::from(2);
    }
    let max_procs = match max_procs() {
        Ok(max_procs) => max_procs,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }

    // ANCHOR: solution
    let mut children: Vec<Child> = Vec::new();
    loop {
        // Watch every child's pair, and always the listener: a full server
        // accepts too, to turn the caller away. That is what keeps poll()
        // from returning again at once for a caller we leave in the queue.
        let mut watched: Vec<PollFd> = children
            .iter()
            .map(|child| PollFd::new(child.pair.as_fd(), PollFlags::POLLIN))
            .collect();
        watched.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        // No timeout: sleep until a child says something or a client calls.
        match poll(&mut watched, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(err) => {
                eprintln!("could not poll: {err}");
                return ExitCode::FAILURE;
            }
        }
        let ready: Vec<bool> = watched
            .iter()
            .map(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
            .collect();
        drop(watched);

        // Children first, last to first, so that removing one does not move
        // the ones still to look at.
        for index in (0..children.len()).rev() {
            if ready[index] && hears_the_end(&mut children[index]) {
                let child = children.remove(index);
                let how = ended(child.pid);
                let report = String::from_utf8_lossy(&child.report);
                let report = if report.is_empty() {
                    format!("ended without a report ({how})")
                } else {
                    format!("done: {report}")
                };
                let busy = children.len();
                println!(
                    "child {} {report} ({busy} of {max_procs} busy)",
                    child.pid
                );
            }
        }

        if ready[ready.len() - 1] {
            let (mut client, peer) = match listener.accept() {
                Ok(call) => call,
                Err(err) => {
                    eprintln!("could not accept a call: {err}");
                    continue;
                }
            };
            if children.len() >= max_procs {
                // A busy signal: better than a silent wait of unknown length.
                // Our message is the whole conversation: write it and close.
                let busy = format!(
                    "all {max_procs} slots are busy, try again later\n"
                );
                if let Err(err) = client.write_all(busy.as_bytes()) {
                    eprintln!("could not turn {peer} away: {err}");
                }
                println!(
                    "turned away {peer} ({max_procs} of {max_procs} busy)"
                );
                continue;
            }
            // A new pair for the new child only: its messages cannot mix
            // with another child's, and its end of file means "this child".
            let (parent_end, child_end) = match UnixStream::pair() {
                Ok(pair) => pair,
                Err(err) => {
                    eprintln!(
                        "could not create a socket pair for {peer}: {err}"
                    );
                    continue;
                }
            };
            // SAFETY: fork() copies the whole process but only the thread
            // that calls it; a lock another thread held at that moment (the
            // allocator's, stdout's) would stay locked forever in the child.
            // This program never starts a thread, so the child is a complete
            // copy of a single-threaded program and may do anything the
            // parent could.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    // Close what belongs to the parent: the listener and the
                    // parent's ends of every pair, ours included. The child
                    // keeps its client and its own end of its own pair.
                    drop(listener);
                    drop(children);
                    drop(parent_end);
                    run_child(client, peer, child_end)
                }
                Ok(ForkResult::Parent { child }) => {
                    // The client and the child's end are the child's now.
                    drop(client);
                    drop(child_end);
                    children.push(Child {
                        pid: child,
                        pair: parent_end,
                        report: Vec::new(),
                    });
                    let busy = children.len();
                    println!(
                        "child {child} serves {peer} ({busy} of {max_procs} \
                         busy)"
                    );
                }
                Err(err) => {
                    eprintln!("could not fork a child for {peer}: {err}")
                }
            }
        }
    } // ANCHOR_END: solution
}

/// Reads what a child has sent on its pair. Returns true at end of file: the
/// child has exited (or crashed), because only its exit closes its end.
fn hears_the_end(child: &mut Child) -> bool {
    let mut buffer = [0u8; 256];
    match child.pair.read(&mut buffer) {
        Ok(0) | Err(_) => true,
        Ok(received) => {
            // A report is one short line; ignore anything beyond a page.
            if child.report.len() < 4096 {
                child.report.extend_from_slice(&buffer[..received]);
            }
            false
        }
    }
}

/// Reaps a child whose end of its pair is closed, and says how it ended. The
/// child closed its end by exiting, so this wait is over at once.
fn ended(pid: Pid) -> String {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                return format!("exit status {code}");
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return format!("killed by {signal}");
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(err) => return format!("could not reap it: {err}"),
        }
    }
}

/// The child's whole life: serve the client, tell the parent how it went,
/// exit. Exiting closes the child's end of the pair, and the parent reads end
/// of file there.
fn run_child(client: TcpStream, peer: SocketAddr, mut pair: UnixStream) -> ! {
    let report = match echo_lines(&client) {
        Ok(report) => report,
        Err(err) => format!("{peer}: {err}"),
    };
    let _ = pair.write_all(report.as_bytes());
    process::exit(0)
}

/// Greets the client with this process's pid, echoes its lines until it says
/// `quit` or hangs up, and returns how the session ended.
fn echo_lines(client: &TcpStream) -> io::Result<String> {
    let mut writer = client;
    writeln!(writer, "You are connected to process {}", process::id())?;
    let mut reader = BufReader::new(client);
    let mut line = Vec::new();
    let mut echoed = 0;
    loop {
        line.clear();
        // At most MAX_LINE bytes: a longer line comes back in pieces.
        if reader
            .by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)?
            == 0
        {
            return Ok(format!("client hung up after {}", lines(echoed)));
        }
        if line.trim_ascii() == b"quit" {
            close_gracefully(client, reader);
            return Ok(format!("client quit after {}", lines(echoed)));
        }
        writer.write_all(&line)?;
        echoed += 1;
    }
}

/// Ends a session the client asked to end: first shutdown(), which sends
/// the client our end of file (FIN) while we can still read; then read and
/// throw away whatever it still sends, until it closes too or LINGER runs
/// out. Closing a socket that has unread data makes the kernel send a reset
/// (RST) instead, and the client may lose the last replies we sent.
fn close_gracefully(client: &TcpStream, mut reader: BufReader<&TcpStream>) {
    if client.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut discard = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if client.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match reader.read(&mut discard) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn lines(count: usize) -> String {
    match count {
        1 => "1 line".to_string(),
        _ => format!("{count} lines"),
    }
}

/// The address to listen on when none is given: loopback, and the port in
/// `PORT` from the environment, or 8080, as the original's
/// `getenv('PORT') ?: 8080` (which listens on every address, `0.0.0.0`).
fn default_addr() -> String {
    let port = env::var("PORT").ok().filter(|port| !port.is_empty());
    format!("127.0.0.1:{}", port.as_deref().unwrap_or("8080"))
}

/// How many children may serve at once: `MAX_PROCS` from the environment, as
/// chapter 8's server, or 2.
fn max_procs() -> Result<usize, String> {
    let invalid = |value: &dyn std::fmt::Debug| {
        format!(
            "MAX_PROCS must be a number of processes, 1 or more, not {value:?}"
        )
    };
    match env::var("MAX_PROCS") {
        Err(VarError::NotPresent) => Ok(2),
        Ok(value) => match value.parse() {
            Ok(count) if count >= 1 => Ok(count),
            _ => Err(invalid(&value)),
        },
        Err(VarError::NotUnicode(value)) => Err(invalid(&value)),
    }
}
