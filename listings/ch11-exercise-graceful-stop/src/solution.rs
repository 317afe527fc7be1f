// [starter]
// //! Exercise 11-2: a graceful stop. Listing 11-1, which SIGTERM or SIGINT
// //! (Ctrl-C) kills on the spot, cutting every client off. Make it stop
// //! gracefully instead: stop accepting, let the clients it serves finish,
// //! join every thread, and exit with status 0. The TODO comments mark the
// //! spots. Check your work with `cargo test -p ch11-exercise-graceful-stop`.
// [solution]
//! Exercise 11-2, the book's answer: Listing 11-1, stopped gracefully by
//! SIGTERM or SIGINT. Every thread blocks both signals; one thread waits for
//! them with sigwait. On the first, the server stops accepting, serves its
//! clients until they leave, joins every client's thread, and exits with
//! status 0. A second signal ends it at once, with status 1.
// [end]

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
// [starter]
// [solution]
use std::sync::atomic::AtomicBool;
// [end]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
// [starter]
// [solution]
use std::thread::JoinHandle;
// [end]
use std::time::Duration;

// [starter]
// use ch11_thread_per_connection::{
//     Ending, FULL, is_out_of_files, log, ok, serve, warn,
// };
// [solution]
use ch11_thread_per_connection::{
    Ending, FULL, flush_log, is_out_of_files, log, ok, serve, warn,
};
use nix::sys::signal::{SigSet, Signal};
// [end]

/// How many clients are served at once, each by its own thread.
const MAX_CLIENTS: usize = 100;
/// The most MAX_CLIENTS may be: far more threads than any machine of
/// today runs well, and still a number the kernel could refuse.
const MOST_CLIENTS: usize = 1_000_000;
/// A client silent for this long is let go.
const MAX_IDLE: Duration = Duration::from_secs(60);

// [starter]
// pub fn main() -> ExitCode {
// [solution]
pub fn main() -> ExitCode {
    // [end]
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
        // [starter]
        // eprintln!(
        //     "usage: ch11-exercise-graceful-stop [ADDR [MAX_CLIENTS \
        //      [MAX_IDLE_SECS]]]"
        // );
        // [solution]
        eprintln!(
            "usage: ch11-exercise-graceful-stop [ADDR [MAX_CLIENTS \
             [MAX_IDLE_SECS]]]"
        );
        // [end]
        return ExitCode::from(2);
    }

    // [starter]
    // // ANCHOR: task_block
    // // TODO: the signals must reach one thread that waits for them, and no
    // // other: block SIGTERM and SIGINT here, before any thread starts (a
    // // new thread inherits the signals its creator blocks).
    // // ANCHOR_END: task_block
    //
    // [solution]
    // ANCHOR: solution_block
    // Blocked here, before any thread starts, so in every thread: the
    // kernel delivers SIGTERM and SIGINT to none of them, and keeps them
    // pending for the one that waits for them (`stop_on_signal`).
    let signals = SigSet::from_iter([Signal::SIGTERM, Signal::SIGINT]);
    if let Err(err) = signals.thread_block() {
        eprintln!("could not block SIGTERM and SIGINT: {err}");
        return ExitCode::FAILURE;
    }
    // ANCHOR_END: solution_block

    // [end]
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
    // [starter]
    // match listener.local_addr() {
    //     Ok(local) => log(format_args!("listening on {local}")),
    //     Err(err) => {
    //         eprintln!("could not read the address of {addr}: {err}");
    //         return ExitCode::FAILURE;
    //     }
    // }
    // [solution]
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    // [end]

    // How many clients have a thread: the acceptor counts up, each thread
    // counts down as it ends. Shared, so in an Arc; a number, so atomic.
    let served = Arc::new(AtomicUsize::new(0));
    let mut pause = FIRST_PAUSE;
    // [starter]
    // // ANCHOR: task_loop
    // // TODO: a thread that waits for SIGTERM or SIGINT, says the server is
    // // stopping, and wakes this loop, asleep in accept().
    // // TODO: keep every client thread's JoinHandle.
    // loop {
    //     let (stream, peer) = match listener.accept() {
    //         Ok(connection) => connection,
    //         Err(err) if is_out_of_files(&err) => {
    //             // The connection stays queued: trying again at once would
    //             // fail at once, forever. Wait, longer each time.
    //             warn(format_args!("could not accept a connection: {err}"));
    //             thread::sleep(pause);
    //             pause = (pause * 2).min(LAST_PAUSE);
    //             continue;
    //         }
    //         Err(err) if err.kind() == ErrorKind::Interrupted => continue,
    //         Err(err) => {
    //             // The client gave up before we took it, and such: the next
    //             // one is not concerned.
    //             warn(format_args!("could not accept a connection: {err}"));
    //             continue;
    //         }
    //     };
    //     pause = FIRST_PAUSE;
    //     // TODO: once stopping, accept no client: leave the loop.
    //     let Some(seat) = Seat::take(&served, max_clients, peer) else {
    //         let reason = format!("{max_clients} clients are served already");
    //         refuse(&stream, peer, &reason);
    //         continue;
    //     };
    //     let number = seat.number;
    //     let work = move |stream: &TcpStream, seat: Seat| {
    //         log(format_args!("{peer} connected ({number} of {max_clients})"));
    //         let ending = serve(stream, max_idle, ok);
    //         // Free before the log says so: whoever reads it may connect.
    //         drop(seat);
    //         log_ending(peer, ending, max_idle);
    //     };
    //     if let Err((stream, err)) = spawn_client(stream, seat, work) {
    //         // EAGAIN: the kernel has no thread for us (RLIMIT_NPROC, or
    //         // the system's limit on threads), or no memory for its stack.
    //         let reason = format!("could not start a thread: {err}");
    //         refuse(&stream, peer, &reason);
    //     }
    // }
    // // TODO: close the listener, wait for every client's thread, log
    // // `stopped`, and return ExitCode::SUCCESS.
    // // ANCHOR_END: task_loop
    // [solution]
    // ANCHOR: solution_loop
    let stopping = Arc::new(AtomicBool::new(false));
    let waiter = Arc::clone(&stopping);
    let started = thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || stop_on_signal(signals, &waiter, local));
    if let Err(err) = started {
        eprintln!("could not start the thread that waits for signals: {err}");
        return ExitCode::FAILURE;
    }
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
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
        if stopping.load(Ordering::SeqCst) {
            // This connection, the wake-up call or a late client, is
            // closed unserved.
            break;
        }
        // Forget the threads that have ended, so that the list does not
        // grow for as long as the server runs.
        threads.retain(|thread| !thread.is_finished());
        let Some(seat) = Seat::take(&served, max_clients, peer) else {
            let reason = format!("{max_clients} clients are served already");
            refuse(&stream, peer, &reason);
            continue;
        };
        let number = seat.number;
        let work = move |stream: &TcpStream, seat: Seat| {
            log(format_args!("{peer} connected ({number} of {max_clients})"));
            let ending = serve(stream, max_idle, ok);
            // Free before the log says so: whoever reads it may connect.
            drop(seat);
            log_ending(peer, ending, max_idle);
        };
        match spawn_client(stream, seat, work) {
            Ok(thread) => threads.push(thread),
            Err((stream, err)) => {
                let reason = format!("could not start a thread: {err}");
                refuse(&stream, peer, &reason);
            }
        }
    }
    // Closed: a client connecting now is refused by the kernel.
    drop(listener);
    threads.retain(|thread| !thread.is_finished());
    log(format_args!(
        "stopping: waiting for {} clients",
        threads.len()
    ));
    for thread in threads {
        // A thread that panicked has said so on stderr already.
        let _ = thread.join();
    }
    log(format_args!("stopped"));
    flush_log(Duration::from_secs(1));
    ExitCode::SUCCESS
    // ANCHOR_END: solution_loop
    // [end]
}

// [starter]
// [solution]
// ANCHOR: solution_signal
/// Waits for SIGTERM or SIGINT; on the first, says the server is stopping
/// and wakes the acceptor with a connection of its own; on the second,
/// ends the process at once.
fn stop_on_signal(signals: SigSet, stopping: &AtomicBool, local: SocketAddr) {
    let Ok(signal) = signals.wait() else {
        warn(format_args!("could not wait for signals"));
        return;
    };
    log(format_args!("{signal} received: no new clients"));
    stopping.store(true, Ordering::SeqCst);
    // accept() returns for this connection, and the loop sees the flag.
    if let Err(err) = TcpStream::connect(local) {
        warn(format_args!("could not wake the acceptor: {err}"));
    }
    if let Ok(signal) = signals.wait() {
        log(format_args!("{signal} received again: stopping now"));
        flush_log(Duration::from_secs(1));
        std::process::exit(1);
    }
}
// ANCHOR_END: solution_signal

// [end]
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
// [starter]
// fn spawn_client(
//     stream: TcpStream,
//     seat: Seat,
//     work: impl FnOnce(&TcpStream, Seat) + Send + 'static,
// ) -> Result<(), (Arc<TcpStream>, std::io::Error)> {
// [solution]
fn spawn_client(
    stream: TcpStream,
    seat: Seat,
    work: impl FnOnce(&TcpStream, Seat) + Send + 'static,
) -> Result<JoinHandle<()>, (Arc<TcpStream>, std::io::Error)> {
    // [end]
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
        // [starter]
        // // Nobody joins it: the thread ends on its own, and its seat and
        // // its stream go with it.
        // Ok(_handle) => Ok(()),
        // [solution]
        // The acceptor keeps the handle, to join the thread when the
        // server stops.
        Ok(handle) => Ok(handle),
        // [end]
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
// [starter]
// [solution]
// (Listing 11-1's unit test of `spawn_client` stays with the listing.)
// [end]
