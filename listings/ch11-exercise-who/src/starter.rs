//! Exercise 11-1: who is here? Listing 11-1, to which you add `/who`:
//! the line `/who` is answered with the addresses of every client being
//! served, in the order they connected:
//!
//!     connected: 127.0.0.1:40000 127.0.0.1:40002
//!
//! Every other line is still answered `OK ... <line>`. The TODO comments
//! mark the spots. Check your work with `cargo test -p ch11-exercise-who`.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ch11_thread_per_connection::{
    Ending, FULL, is_out_of_files, log, ok, serve, warn,
};

/// How many clients are served at once, each by its own thread.
const MAX_CLIENTS: usize = 100;
/// The most MAX_CLIENTS may be: far more threads than any machine of
/// today runs well, and still a number the kernel could refuse.
const MOST_CLIENTS: usize = 1_000_000;
/// A client silent for this long is let go.
const MAX_IDLE: Duration = Duration::from_secs(60);

pub fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let max_clients = match args.next() {
        None => MAX_CLIENTS,
        Some(text) => match text.parse::<usize>() {
            Ok(count) if (1..=MOST_CLIENTS).contains(&count) => count,
            _ => {
                eprintln!(
                    "MAX_CLIENTS must be a number of clients, 1 to \
                     {MOST_CLIENTS}, not {text:?}"
                );
                return ExitCode::from(2);
            }
        },
    };
    let max_idle = match args.next() {
        None => MAX_IDLE,
        Some(text) => match text.parse::<u64>() {
            Ok(secs) if secs > 0 => Duration::from_secs(secs),
            _ => {
                eprintln!(
                    "MAX_IDLE_SECS must be a number of seconds, 1 or more, \
                     not {text:?}"
                );
                return ExitCode::from(2);
            }
        },
    };
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!(
            "usage: ch11-exercise-who [ADDR [MAX_CLIENTS \
             [MAX_IDLE_SECS]]]"
        );
        return ExitCode::from(2);
    }

    // A panic prints its message from the thread that panics, with a
    // blocking write to stderr: route it through the log instead, which
    // never blocks.
    std::panic::set_hook(Box::new(|info| {
        let thread = thread::current();
        let name = thread.name().unwrap_or("unnamed");
        warn(format_args!("thread '{name}' {info}"));
    }));

    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => log(format_args!("listening on {local}")),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }

    // How many clients have a thread: the acceptor counts up, each thread
    // counts down as it ends. Shared, so in an Arc; a number, so atomic.
    let served = Arc::new(AtomicUsize::new(0));
    // ANCHOR: task_state
    // TODO: the list of the clients being served, which every client's
    // thread reads (for `/who`) and changes (as its client comes and goes).
    // ANCHOR_END: task_state
    let mut pause = FIRST_PAUSE;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(connection) => connection,
            Err(err) if is_out_of_files(&err) => {
                // The connection stays queued: trying again at once would
                // fail at once, forever. Wait, longer each time.
                warn(format_args!("could not accept a connection: {err}"));
                thread::sleep(pause);
                pause = (pause * 2).min(LAST_PAUSE);
                continue;
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => {
                // The client gave up before we took it, and such: the next
                // one is not concerned.
                warn(format_args!("could not accept a connection: {err}"));
                continue;
            }
        };
        pause = FIRST_PAUSE;
        let Some(seat) = Seat::take(&served, max_clients, peer) else {
            let reason = format!("{max_clients} clients are served already");
            refuse(&stream, peer, &reason);
            continue;
        };
        let number = seat.number;
        // ANCHOR: task_thread
        let work = move |stream: &TcpStream, seat: Seat| {
            log(format_args!("{peer} connected ({number} of {max_clients})"));
            // TODO: put `peer` on the list now, and take it off when this
            // thread is done with it, whatever ends the visit.
            // TODO: answer `/who` with the list; `ok` answers the rest.
            let ending = serve(stream, max_idle, ok);
            // Free before the log says so: whoever reads it may connect.
            drop(seat);
            log_ending(peer, ending, max_idle);
        };
        // ANCHOR_END: task_thread
        if let Err((stream, err)) = spawn_client(stream, seat, work) {
            // EAGAIN: the kernel has no thread for us (RLIMIT_NPROC, or
            // the system's limit on threads), or no memory for its stack.
            let reason = format!("could not start a thread: {err}");
            refuse(&stream, peer, &reason);
        }
    }
}

/// Says in the log how a client's visit ended.
fn log_ending(
    peer: SocketAddr,
    ending: Result<Ending, String>,
    idle: Duration,
) {
    match ending {
        Ok(Ending::Disconnected) => log(format_args!("{peer} disconnected")),
        Ok(Ending::Idle) => {
            log(format_args!("{peer} let go: idle for {} s", idle.as_secs()))
        }
        Ok(Ending::TooLong) => {
            log(format_args!("{peer} let go: line too long"))
        }
        Err(reason) => log(format_args!("{peer} dropped: {reason}")),
    }
}

/// The first pause after accept() ran out of descriptors, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LAST_PAUSE: Duration = Duration::from_secs(1);

/// One of the `max_clients` places. The thread that serves the client owns
/// it, and gives it back when it ends, however it ends: `drop` runs when
/// the thread returns, and also while a panic unwinds it.
struct Seat {
    served: Arc<AtomicUsize>,
    peer: SocketAddr,
    /// Which place this is, counting from 1 (for the log).
    number: usize,
}

impl Seat {
    /// Takes a place if fewer than `max` are taken.
    fn take(
        served: &Arc<AtomicUsize>,
        max: usize,
        peer: SocketAddr,
    ) -> Option<Seat> {
        // Add one, unless the count is already `max`: in one atomic step,
        // so no thread's count-down can slip between the check and the add.
        let before = served
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| {
                (count < max).then_some(count + 1)
            })
            .ok()?;
        Some(Seat {
            served: Arc::clone(served),
            peer,
            number: before + 1,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.served.fetch_sub(1, Ordering::SeqCst);
        if thread::panicking() {
            // The panic message is on stderr already (the panic hook);
            // say which client it cost.
            log(format_args!("{} dropped: its thread panicked", self.peer));
        }
    }
}

/// Starts a thread that runs `work` on `stream` and `seat`, and then
/// closes the stream. If the thread cannot be started, returns the stream
/// (so that the client can be told) with the error; the seat is given back
/// either way.
fn spawn_client(
    stream: TcpStream,
    seat: Seat,
    work: impl FnOnce(&TcpStream, Seat) + Send + 'static,
) -> Result<(), (Arc<TcpStream>, std::io::Error)> {
    // The thread gets the stream, and so does a failed spawn: it drops the
    // closure it was given, and would close the connection unseen. Sharing
    // it in an Arc keeps ours open until we know.
    let stream = Arc::new(stream);
    let for_thread = Arc::clone(&stream);
    let thread = thread::Builder::new()
        .name(format!("client {}", seat.peer))
        .spawn(move || {
            // `work` gives the seat back when it is done with the client,
            // before it logs so. (A panic in `work` drops the seat and the
            // stream as it unwinds.)
            work(&for_thread, seat);
            drop(for_thread);
        });
    match thread {
        // Nobody joins it: the thread ends on its own, and its seat and
        // its stream go with it.
        Ok(_handle) => Ok(()),
        Err(err) => Err((stream, err)),
    }
}

/// Tells a client we cannot serve it why, and closes the connection.
fn refuse(mut stream: &TcpStream, peer: SocketAddr, reason: &str) {
    log(format_args!("{peer} refused: {reason}"));
    // A short message into an empty send buffer: this write does not block.
    // If it fails anyway, the client still sees the connection close.
    let _ = stream.write_all(FULL);
}
