//! Listing 12-3: the thundering herd of chapter 10, with epoll. WAITERS
//! threads each watch the same listening socket through an epoll instance
//! of their own, as the workers of a prefork server would; CONNECTIONS
//! clients connect, one at a time. Each waiter counts how often the kernel
//! woke it (from /proc), how often epoll_wait() returned, and how often it
//! then found a connection to accept. The program does it twice: without
//! EPOLLEXCLUSIVE, then with it, and prints a table.
//!
//! Run it with `cargo run -p ch12-thundering-herd [WAITERS [CONNECTIONS]]`
//! (defaults 4 and 100).

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::epoll::{
    Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout,
};

const LISTENER: u64 = 0;
const STOP: u64 = 1;

/// What one waiter counted.
#[derive(Clone, Copy, Default)]
struct Count {
    /// The kernel woke its thread while it slept in epoll_wait(): from its
    /// voluntary context switches, in /proc.
    woken: u64,
    /// epoll_wait() returned with the listener ready.
    returned: u64,
    /// ...and accept() found a connection.
    accepted: u64,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let waiters = number(args.next(), 4, 64);
    let connections = number(args.next(), 100, 10_000);
    let (Some(waiters), Some(connections), None) =
        (waiters, connections, args.next())
    else {
        eprintln!(
            "usage: ch12-thundering-herd [WAITERS [CONNECTIONS]] (1 to 64 \
             waiters, 1 to 10000 connections)"
        );
        return ExitCode::from(2);
    };
    let mut report = format!(
        "{waiters} waiters, each with its own epoll instance, on one \
         listening socket; {connections} connections, one at a time\n"
    );
    for exclusive in [false, true] {
        match run(waiters, connections, exclusive) {
            Ok(counts) => report.push_str(&table(exclusive, &counts)),
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::FAILURE;
            }
        }
    }
    // println! would panic on a closed stdout: say so in one line instead.
    if let Err(err) = io::stdout().write_all(report.as_bytes()) {
        eprintln!("could not write the table: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The argument, a number from 1 to `most`, or `default` when it is absent.
fn number(arg: Option<String>, default: usize, most: usize) -> Option<usize> {
    match arg {
        None => Some(default),
        Some(text) => text.parse().ok().filter(|n| (1..=most).contains(n)),
    }
}

// ANCHOR: waiter
/// One waiter: its own epoll instance, watching the shared listener (with
/// EPOLLEXCLUSIVE, or not) and the stop socket. Counts its wakeups until
/// the stop socket is readable. `asleep` counts the waiters in
/// epoll_wait(), for the main thread to wait until all are.
fn wait_for_connections(
    listener: &TcpListener,
    stop: &UnixStream,
    exclusive: bool,
    asleep: &AtomicUsize,
) -> io::Result<Count> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    let mut interest = EpollFlags::EPOLLIN;
    if exclusive {
        interest |= EpollFlags::EPOLLEXCLUSIVE;
    }
    epoll.add(listener.as_fd(), EpollEvent::new(interest, LISTENER))?;
    epoll.add(stop.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, STOP))?;
    let mut count = Count::default();
    let mut events = [EpollEvent::empty(); 2];
    // Each time the thread sleeps, the kernel counts a voluntary context
    // switch: every sleep after the first one follows a wakeup.
    let switches_before = voluntary_switches()?;
    loop {
        asleep.fetch_add(1, Ordering::SeqCst);
        let ready = epoll.wait(&mut events, EpollTimeout::NONE);
        asleep.fetch_sub(1, Ordering::SeqCst);
        for event in &events[..ready?] {
            if event.data() == STOP {
                let sleeps = voluntary_switches()? - switches_before;
                count.woken = sleeps.saturating_sub(1);
                return Ok(count);
            }
            count.returned += 1;
            // Non-blocking: a waiter that lost the race gets WouldBlock.
            match listener.accept() {
                Ok((mut client, _)) => {
                    count.accepted += 1;
                    let _ = client.write_all(b"accepted\n");
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
    }
}
// ANCHOR_END: waiter

// ANCHOR: run
/// How many times this thread has gone to sleep, from
/// `voluntary_ctxt_switches` in /proc/thread-self/status.
fn voluntary_switches() -> io::Result<u64> {
    let status = fs::read_to_string("/proc/thread-self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|count| count.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no voluntary_ctxt_switches"))
}

/// Starts the waiters, makes the connections one at a time, each once
/// every waiter sleeps again, then stops the waiters and returns their
/// counts.
fn run(
    waiters: usize,
    connections: usize,
    exclusive: bool,
) -> Result<Vec<Count>, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|err| format!("could not bind 127.0.0.1:0: {err}"))?;
    listener.set_nonblocking(true).map_err(|err| {
        format!("could not make the listener non-blocking: {err}")
    })?;
    let addr = listener.local_addr().map_err(|err| {
        format!("could not read the listener's address: {err}")
    })?;
    let (stop_writer, stop_reader) = UnixStream::pair()
        .map_err(|err| format!("could not make a socket pair: {err}"))?;
    let listener = Arc::new(listener);
    let stop_reader = Arc::new(stop_reader);
    let asleep = Arc::new(AtomicUsize::new(0));
    let (report, reports) = mpsc::channel();
    let mut threads = Vec::new();
    for _ in 0..waiters {
        let (listener, stop, asleep, report) = (
            Arc::clone(&listener),
            Arc::clone(&stop_reader),
            Arc::clone(&asleep),
            report.clone(),
        );
        threads.push(thread::spawn(move || {
            let tid = nix::unistd::gettid().as_raw();
            let _ = report.send(tid);
            wait_for_connections(&listener, &stop, exclusive, &asleep)
        }));
    }
    let tids: Vec<i32> = reports.iter().take(waiters).collect();
    let mut outcome = Ok(());
    for _ in 0..connections {
        wait_until_asleep(&asleep, &tids);
        if let Err(err) = connect_and_hear(addr) {
            outcome = Err(format!("could not connect to {addr}: {err}"));
            break;
        }
    }
    // Every waiter watches the stop socket: one byte wakes them all.
    let _ = (&stop_writer).write_all(b"x");
    let mut counts = Vec::new();
    for thread in threads {
        match thread.join() {
            Ok(Ok(count)) => counts.push(count),
            Ok(Err(err)) => return Err(format!("a waiter failed: {err}")),
            Err(_) => return Err("a waiter panicked".to_string()),
        }
    }
    outcome.map(|()| counts)
}
// ANCHOR_END: run

/// Connects, and waits until a waiter has accepted the connection and
/// said so.
fn connect_and_hear(addr: std::net::SocketAddr) -> io::Result<()> {
    let mut client = TcpStream::connect(addr)?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut heard = [0u8; 9];
    client.read_exact(&mut heard)
}

/// Waits (at most a second) until every waiter is back in epoll_wait(): it
/// has said so, and the kernel shows its thread asleep (`S` in
/// /proc/self/task/<tid>/stat). A connection made earlier would find a
/// waiter still busy with the last one, which is another experiment.
fn wait_until_asleep(asleep: &AtomicUsize, tids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let sleeping = |tid: &i32| {
        fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, after_name) = stat.rsplit_once(')')?;
                after_name.split_whitespace().next().map(|s| s == "S")
            })
            .unwrap_or(true)
    };
    while Instant::now() < deadline {
        if asleep.load(Ordering::SeqCst) == tids.len()
            && tids.iter().all(sleeping)
        {
            return;
        }
        thread::yield_now();
    }
}

// ANCHOR: table
/// The table of one run: a row per waiter, and their sum.
fn table(exclusive: bool, counts: &[Count]) -> String {
    let mut text = String::from(if exclusive {
        "\nwith EPOLLEXCLUSIVE\n"
    } else {
        "\nwithout EPOLLEXCLUSIVE\n"
    });
    text.push_str(
        "           woken  epoll_wait returned  accepted  found nothing\n",
    );
    let row = |name: &str, count: Count| {
        format!(
            "{name:<9} {:>7} {:>20} {:>9} {:>14}\n",
            count.woken,
            count.returned,
            count.accepted,
            count.woken.saturating_sub(count.accepted)
        )
    };
    for (number, count) in counts.iter().enumerate() {
        text.push_str(&row(&format!("waiter {}", number + 1), *count));
    }
    let all = counts.iter().fold(Count::default(), |sum, count| Count {
        woken: sum.woken + count.woken,
        returned: sum.returned + count.returned,
        accepted: sum.accepted + count.accepted,
    });
    text.push_str(&row("all", all));
    text
}
// ANCHOR_END: table
