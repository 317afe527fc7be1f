//! Listing 11-2: a pool of threads. WORKERS threads are started once; the
//! main thread accepts connections and puts them in a bounded queue, and
//! each worker takes the next one, serves it (Listing 11-1's `serve`), and
//! comes back for another. A connection that finds the queue full is
//! turned away. The workers share counts of what they served.
//!
//! Run it with `cargo run -p ch11-thread-pool [ADDR [WORKERS [QUEUE
//! [MAX_IDLE_SECS]]]]` (defaults 127.0.0.1:5000, 10 workers, a queue of
//! 10, 60 seconds).

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use ch11_thread_per_connection::{
    Ending, FULL, is_out_of_files, log, ok, serve, warn,
};

const WORKERS: usize = 10;
const QUEUE: usize = 10;
const MAX_IDLE: Duration = Duration::from_secs(60);
/// The most workers, and the longest queue, the server takes.
const MOST: usize = 100_000;

/// A connection accepted and not yet served.
type Job = (TcpStream, SocketAddr);

// ANCHOR: stats
/// What the workers have done, all together. They update it under a lock,
/// a few additions at a time, and never while they read or write a socket.
#[derive(Default)]
struct Stats {
    /// Clients whose visit has ended.
    clients: u64,
    /// Lines answered, to all clients.
    lines: u64,
}

/// What the workers share.
struct Shared {
    stats: Mutex<Stats>,
    /// How many workers are serving a client now: one number, read on its
    /// own, so an atomic is enough.
    busy: AtomicUsize,
    max_idle: Duration,
}

/// Takes the lock, even if a thread panicked while holding it. A panic
/// there "poisons" the Mutex; our updates are additions that leave the
/// counts usable whatever happened, so we take them as they are.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
// ANCHOR_END: stats

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let Some(workers) = number(args.next(), WORKERS, "WORKERS", "workers")
    else {
        return ExitCode::from(2);
    };
    let Some(queue) = number(args.next(), QUEUE, "QUEUE", "connections") else {
        return ExitCode::from(2);
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
            "usage: ch11-thread-pool [ADDR [WORKERS [QUEUE [MAX_IDLE_SECS]]]]"
        );
        return ExitCode::from(2);
    }
    // As in Listing 11-1: a panic's message goes through the log.
    panic::set_hook(Box::new(|info| {
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

    // ANCHOR: start
    // The queue: at most `queue` connections wait in it. A sync_channel's
    // Receiver has one owner; the workers share it behind a Mutex.
    let (jobs, queued) = mpsc::sync_channel::<Job>(queue);
    let queued = Arc::new(Mutex::new(queued));
    let shared = Arc::new(Shared {
        stats: Mutex::new(Stats::default()),
        busy: AtomicUsize::new(0),
        max_idle,
    });
    for number in 1..=workers {
        let queued = Arc::clone(&queued);
        let shared = Arc::clone(&shared);
        let started = thread::Builder::new()
            .name(format!("worker {number}"))
            .spawn(move || {
                work(&queued, |stream, peer| {
                    serve_one(number, stream, peer, &shared);
                });
            });
        // All the threads the server will ever need are started now: if
        // the kernel has not got them, better to say so and stop at once
        // than to run short of workers later.
        if let Err(err) = started {
            eprintln!("could not start worker {number} of {workers}: {err}");
            return ExitCode::FAILURE;
        }
    }
    // ANCHOR_END: start
    match listener.local_addr() {
        Ok(local) => log(format_args!("listening on {local}")),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }

    // ANCHOR: accept
    let mut pause = FIRST_PAUSE;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(connection) => connection,
            Err(err) if is_out_of_files(&err) => {
                warn(format_args!("could not accept a connection: {err}"));
                thread::sleep(pause);
                pause = (pause * 2).min(LAST_PAUSE);
                continue;
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => {
                warn(format_args!("could not accept a connection: {err}"));
                continue;
            }
        };
        pause = FIRST_PAUSE;
        // try_send, not send: with the queue full, send would block the
        // acceptor until a worker is free, and every new client would wait
        // unseen in the kernel's listen queue. Better to tell it now.
        match jobs.try_send((stream, peer)) {
            Ok(()) => {}
            Err(TrySendError::Full((stream, peer))) => {
                let busy = shared.busy.load(Ordering::Relaxed);
                let reason = format!(
                    "{busy} of {workers} workers busy, queue of {queue} full"
                );
                refuse(&stream, peer, &reason);
            }
            // Only if every worker had ended, which none does.
            Err(TrySendError::Disconnected(_)) => {
                warn(format_args!("no worker is left"));
                return ExitCode::FAILURE;
            }
        }
    }
    // ANCHOR_END: accept
}

// ANCHOR: work
/// A worker's life: take the next connection from the queue, serve it
/// with `serve`, and come back, until the queue is closed. A panic while
/// serving ends that client's visit, not the worker.
fn work(queued: &Mutex<Receiver<Job>>, serve: impl Fn(TcpStream, SocketAddr)) {
    loop {
        // The lock is held while this worker waits for a job, so idle
        // workers wait for the lock and one waits in recv(); it is let go
        // at the end of this statement, before the client is served.
        let job = lock(queued).recv();
        let Ok((stream, peer)) = job else {
            return; // the acceptor is gone: no job will ever come
        };
        // Unwinding stops here instead of ending the thread: the stream,
        // moved into the closure, is dropped on the way (the client sees
        // the connection close), and the worker takes the next job.
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            serve(stream, peer);
        }));
        if served.is_err() {
            log(format_args!("{peer} dropped: its worker panicked"));
        }
    }
}
// ANCHOR_END: work

// ANCHOR: serve_one
/// Serves one client on worker `number`, and counts what it did.
fn serve_one(
    number: usize,
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
) {
    shared.busy.fetch_add(1, Ordering::Relaxed);
    // Counted down when this function ends, even by a panic.
    let _busy = CountDown(&shared.busy);
    log(format_args!("worker {number}: {peer} connected"));
    let mut own_lines = 0;
    let ending = serve(&stream, shared.max_idle, |line, replies| {
        ok(line, replies);
        own_lines += 1;
        // A short critical section: one addition, no I/O, no waiting.
        lock(&shared.stats).lines += 1;
    });
    // Copy what the log line needs, and let the lock go before logging.
    let (clients, lines) = {
        let mut stats = lock(&shared.stats);
        stats.clients += 1;
        (stats.clients, stats.lines)
    };
    let how = match ending {
        Ok(Ending::Disconnected) => "disconnected".to_string(),
        Ok(Ending::Idle) => {
            format!("let go: idle for {} s", shared.max_idle.as_secs())
        }
        Ok(Ending::TooLong) => "let go: line too long".to_string(),
        Err(reason) => format!("dropped: {reason}"),
    };
    log(format_args!(
        "worker {number}: {peer} {how} (lines: {own_lines}; in all, \
         clients: {clients}, lines: {lines})"
    ));
}
// ANCHOR_END: serve_one

/// Counts a busy worker down when it is dropped.
struct CountDown<'a>(&'a AtomicUsize);

impl Drop for CountDown<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The first pause after accept() ran out of descriptors, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LAST_PAUSE: Duration = Duration::from_secs(1);

/// Reads a count from the command line: `default` without one, at least 1
/// and at most MOST. Says what is wrong and returns None otherwise.
fn number(
    arg: Option<String>,
    default: usize,
    name: &str,
    what: &str,
) -> Option<usize> {
    let Some(text) = arg else {
        return Some(default);
    };
    match text.parse::<usize>() {
        Ok(count) if (1..=MOST).contains(&count) => Some(count),
        _ => {
            eprintln!(
                "{name} must be a number of {what}, 1 to {MOST}, not {text:?}"
            );
            None
        }
    }
}

/// Tells a client we cannot serve it why, and closes the connection.
fn refuse(mut stream: &TcpStream, peer: SocketAddr, reason: &str) {
    log(format_args!("{peer} refused: {reason}"));
    let _ = stream.write_all(FULL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A job that panics ends that client's visit, and the same worker
    /// serves the next client. (No input makes `serve` panic, so the test
    /// hands `work` a job that does.)
    #[test]
    fn a_worker_whose_job_panics_takes_the_next_job() {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            panic!("bind");
        };
        let Ok(addr) = listener.local_addr() else {
            panic!("local_addr");
        };
        let (jobs, queued) = mpsc::sync_channel::<Job>(2);
        let mut clients = Vec::new();
        for _ in 0..2 {
            let Ok(client) = TcpStream::connect(addr) else {
                panic!("connect");
            };
            let Ok(job) = listener.accept() else {
                panic!("accept");
            };
            assert!(jobs.try_send(job).is_ok());
            clients.push(client);
        }
        drop(jobs); // after these two, the worker returns
        let queued = Mutex::new(queued);
        let served = AtomicUsize::new(0);
        work(&queued, |mut stream, _| {
            if served.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("a bug in the handler");
            }
            let _ = stream.write_all(b"served\n");
        });
        assert_eq!(served.load(Ordering::SeqCst), 2);
        let mut heard = [String::new(), String::new()];
        for (client, heard) in clients.iter_mut().zip(&mut heard) {
            assert!(client.read_to_string(heard).is_ok());
        }
        assert_eq!(heard, ["", "served\n"]);
    }
}
