//! Listing 13-1: the protocol of chapter 5's select server, served by tokio.
//! Every client gets a task of its own, written as if it had a thread and
//! blocking sockets; the runtime runs them all on a few threads, and waits
//! for every socket at once with epoll.
//!
//! Run it with `cargo run -p ch13-tokio-server [ADDR [MAX_CLIENTS
//! [MAX_IDLE_SECS]]]` (defaults 127.0.0.1:5000, 10 clients and 30 seconds).
//! SIGINT (Ctrl-C) or SIGTERM stops it gracefully.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tokio::io::{
    AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, sleep, timeout};

// ANCHOR: limits
/// How many clients are served at once. The next one is turned away.
const MAX_CLIENTS: usize = 10;
/// The most MAX_CLIENTS may be: far more than a process has descriptors
/// for by default, and few enough for a semaphore's count.
const MOST_CLIENTS: usize = 1_000_000;
/// The longest line a client may send, newline included.
const MAX_LINE: usize = 1024;
/// How many bytes of replies wait in a client's task before it stops to
/// hand them to the kernel. The task reads no more while it waits.
const MAX_UNSENT: usize = 8 * 1024;
/// While every place is taken, a client that has sent no line for this
/// long gives its place to the next one.
const MAX_IDLE: Duration = Duration::from_secs(30);
/// How long a client told to leave may take to close its side, so that our
/// last words are not lost to a reset.
const LINGER: Duration = Duration::from_secs(2);
/// On SIGINT or SIGTERM, how long the clients have to leave.
const GRACE: Duration = Duration::from_secs(3);
// ANCHOR_END: limits

/// The original's welcome, word for word, as in Listing 5-1.
const WELCOME: &[u8] = b"Welcome to php socket server version 1.0 \n\
    Enter a message and press enter, and i shall reply back \n";
const FULL: &[u8] = b"Sorry, the server is full. Try again later.\n";
const IDLE: &[u8] =
    b"Sorry, the server is full and you have been idle too long. Goodbye.\n";
const TOO_LONG: &[u8] = b"Sorry, a line may be at most 1024 bytes. Goodbye.\n";
const SHUTTING_DOWN: &[u8] = b"Sorry, the server is shutting down. Goodbye.\n";

fn main() -> ExitCode {
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
            "usage: ch13-tokio-server [ADDR [MAX_CLIENTS [MAX_IDLE_SECS]]]"
        );
        return ExitCode::from(2);
    }

    // ANCHOR: runtime
    // One worker thread per core (TOKIO_WORKER_THREADS changes that), each
    // running whichever tasks are ready; all of them share one epoll.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all() // the I/O driver (epoll) and the timers
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("could not start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(addr, max_clients, max_idle));
    // Tasks still running (a client that would not leave) are dropped
    // here, which closes their sockets.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
    // ANCHOR_END: runtime
}

// ANCHOR: run
/// Listens, serves until SIGINT or SIGTERM, then lets the clients go.
async fn run(addr: String, max_clients: usize, max_idle: Duration) -> ExitCode {
    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Registered now, before the first client: a signal that came before
    // we listened for it would kill the server the default way.
    let (mut terminate, mut interrupt) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("could not handle SIGTERM and SIGINT: {err}");
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

    let server = Arc::new(Shared::new(max_clients, max_idle));
    let (stop, stopping) = watch::channel(false);
    let name = tokio::select! {
        // accept_clients never returns: Infallible has no value to match.
        never = accept_clients(&listener, &server, stopping) => match never {},
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    // Stop accepting: new connections are refused by the kernel from now.
    drop(listener);
    let connected = max_clients - server.places.available_permits();
    log(format_args!(
        "{name}: telling {} to leave",
        count_clients(connected)
    ));
    let _ = stop.send(true);
    // Every client's task holds a permit until it is done: when all are
    // back, everyone has heard the goodbye and left.
    let all = u32::try_from(max_clients).unwrap_or(u32::MAX);
    match timeout(GRACE, server.places.acquire_many(all)).await {
        Ok(_) => log(format_args!("shut down")),
        Err(_) => {
            let stayed = max_clients - server.places.available_permits();
            log(format_args!(
                "shut down; {} did not leave within {} s",
                count_clients(stayed),
                GRACE.as_secs()
            ));
        }
    }
    ExitCode::SUCCESS
}
// ANCHOR_END: run

/// "1 client", "2 clients".
fn count_clients(count: usize) -> String {
    match count {
        1 => "1 client".to_string(),
        _ => format!("{count} clients"),
    }
}

// ANCHOR: shared
/// What the accepting task and the clients' tasks share.
struct Shared {
    /// One permit per client being served: MAX_CLIENTS in all.
    places: Arc<Semaphore>,
    max_clients: usize,
    max_idle: Duration,
    /// Every client being served, by number, to find the idlest when full.
    clients: Mutex<HashMap<u64, Arc<Place>>>,
    next_number: AtomicU64,
    /// The clock the clients' `last_active` counts from.
    started: Instant,
}

/// What the accepting task knows of one client.
struct Place {
    peer: SocketAddr,
    /// When it last sent a line, in microseconds since `started`.
    last_active: AtomicU64,
    /// Rung when the client must give its place to the next one.
    give_way: Notify,
}
// ANCHOR_END: shared

impl Shared {
    fn new(max_clients: usize, max_idle: Duration) -> Shared {
        Shared {
            places: Arc::new(Semaphore::new(max_clients)),
            max_clients,
            max_idle,
            clients: Mutex::new(HashMap::new()),
            next_number: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// A mutex is poisoned when a thread panics holding it. Nothing here
    /// panics, and the map stays whole if one did: go on with it.
    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Place>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The first pause after accept() ran out of descriptors, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LAST_PAUSE: Duration = Duration::from_secs(1);

// ANCHOR: accept
/// Accepts clients for ever, a task for each; ends only when cancelled.
async fn accept_clients(
    listener: &TcpListener,
    server: &Arc<Shared>,
    stopping: watch::Receiver<bool>,
) -> Infallible {
    let mut pause = FIRST_PAUSE;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(connection) => connection,
            // EMFILE or ENFILE: the connection stays queued, and the next
            // accept() would fail at once, again and again. Wait instead.
            Err(err) if err.raw_os_error().is_some_and(is_out_of_files) => {
                warn(format_args!(
                    "could not accept a connection: {err} (trying again in \
                     {pause:?})"
                ));
                sleep(pause).await;
                pause = (pause * 2).min(LAST_PAUSE);
                continue;
            }
            Err(err) => {
                warn(format_args!("could not accept a connection: {err}"));
                continue;
            }
        };
        pause = FIRST_PAUSE;
        // A permit if one is free; else an idle client is asked to give
        // way and the newcomer waits for its permit; else "sorry".
        let permit = match server.places.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if make_room(server) => None,
            Err(_) => {
                log(format_args!(
                    "{peer} refused: all {} places are taken",
                    server.max_clients
                ));
                // One write that cannot block: into an empty send buffer.
                let _ = stream.try_write(FULL);
                continue;
            }
        };
        let number = server.next_number.fetch_add(1, Ordering::Relaxed);
        let place = Arc::new(Place {
            peer,
            last_active: AtomicU64::new(server.now_us()),
            give_way: Notify::new(),
        });
        server.clients().insert(number, place.clone());
        log(format_args!("{peer} connected"));
        let client = Client {
            server: server.clone(),
            number,
            place,
            stopping: stopping.clone(),
        };
        tokio::spawn(client.serve(stream, permit));
    }
}
// ANCHOR_END: accept

// ANCHOR: make_room
/// Asks the client idle the longest to give way, if it has been idle for
/// more than `max_idle`. Returns whether one will.
fn make_room(server: &Shared) -> bool {
    let mut clients = server.clients();
    // Of two clients idle since the same moment, the first to come goes.
    let Some((&number, idlest)) =
        clients.iter().min_by_key(|(number, place)| {
            (place.last_active.load(Ordering::Relaxed), **number)
        })
    else {
        return false;
    };
    let idle_us = server
        .now_us()
        .saturating_sub(idlest.last_active.load(Ordering::Relaxed));
    if Duration::from_micros(idle_us) < server.max_idle {
        return false;
    }
    log(format_args!(
        "{} dropped: idle for more than {} s while the server is full",
        idlest.peer,
        server.max_idle.as_secs()
    ));
    // notify_one() keeps the call if nobody waits yet: it is not lost.
    idlest.give_way.notify_one();
    clients.remove(&number);
    true
}
// ANCHOR_END: make_room

/// Whether accept() failed because the process (EMFILE) or the whole system
/// (ENFILE) has no descriptor left.
fn is_out_of_files(errno: i32) -> bool {
    errno == Errno::EMFILE as i32 || errno == Errno::ENFILE as i32
}

/// One client's task: what it needs besides its socket.
struct Client {
    server: Arc<Shared>,
    number: u64,
    place: Arc<Place>,
    stopping: watch::Receiver<bool>,
}

/// Why a conversation ended.
enum Ending {
    /// The client finished sending, and has all its replies.
    Finished,
    /// Its line was too long: it is told so, after the replies it is owed.
    TooLong,
    /// The server is shutting down.
    ShuttingDown,
    /// It was idle too long while the server was full.
    GaveWay,
}

/// What one read of a line found.
enum Line {
    /// A whole line, newline included.
    Complete,
    /// MAX_LINE bytes and no newline.
    TooLong,
    /// The end of the stream; what came after the last newline, if
    /// anything, is in the buffer.
    End,
}

impl Client {
    // ANCHOR: serve
    /// Serves one client from welcome to goodbye, then frees its place.
    async fn serve(
        mut self,
        stream: TcpStream,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        // Waits here, without a welcome, while the client that gives way
        // leaves: its permit comes to us.
        let permit = match permit {
            Some(permit) => permit,
            None => match self.server.places.clone().acquire_owned().await {
                Ok(permit) => permit,
                Err(_) => return, // closed: never, in this program
            },
        };
        let peer = self.place.peer;
        let (reader, writer) = stream.into_split();
        let mut reader = BufReader::with_capacity(MAX_LINE, reader);
        let mut writer = BufWriter::with_capacity(MAX_UNSENT, writer);
        let place = self.place.clone();
        // Asked to give way, the client leaves wherever it is: even in the
        // middle of a write that a client who never reads holds up.
        let ending = tokio::select! {
            ending = self.converse(&mut reader, &mut writer) => ending,
            () = place.give_way.notified() => Ok(Ending::GaveWay),
        };
        // Not a candidate to give way any more (if it still was).
        self.server.clients().remove(&self.number);
        let goodbye = match ending {
            Ok(Ending::Finished) => {
                log(format_args!("{peer} disconnected"));
                return;
            }
            Err(reason) => {
                log(format_args!("{peer} dropped: {reason}"));
                return;
            }
            Ok(Ending::TooLong) => TOO_LONG,
            Ok(Ending::GaveWay) => IDLE,
            Ok(Ending::ShuttingDown) => SHUTTING_DOWN,
        };
        // Its place is free for the next client at once, unless the server
        // is shutting down: then it waits for this client to be done.
        let shutting_down = matches!(ending, Ok(Ending::ShuttingDown));
        let permit = shutting_down.then_some(permit); // None: dropped now
        match say_goodbye(&mut reader, &mut writer, goodbye).await {
            Ok(()) => log(format_args!("{peer} disconnected")),
            Err(reason) => log(format_args!("{peer} dropped: {reason}")),
        }
        drop(permit);
    }
    // ANCHOR_END: serve

    // ANCHOR: converse
    /// Answers lines until the client finishes, sends a line too long, or
    /// the server stops.
    async fn converse(
        &mut self,
        reader: &mut BufReader<OwnedReadHalf>,
        writer: &mut BufWriter<OwnedWriteHalf>,
    ) -> Result<Ending, String> {
        let write_failed = |err: io::Error| format!("could not write: {err}");
        writer.write_all(WELCOME).await.map_err(write_failed)?;
        let mut line = Vec::with_capacity(MAX_LINE);
        loop {
            // Replies wait in `writer` while more lines are already here,
            // and go in one write before we wait for the client again.
            if !reader.buffer().contains(&b'\n') {
                writer.flush().await.map_err(write_failed)?;
            }
            let read = tokio::select! {
                read = read_line(reader, &mut line) => read,
                _ = self.stopping.changed() => return Ok(Ending::ShuttingDown),
            };
            match read.map_err(|err| format!("could not read: {err}"))? {
                Line::Complete => {}
                Line::TooLong => {
                    log(format_args!(
                        "{} is told to leave: line longer than {MAX_LINE} \
                         bytes",
                        self.place.peer
                    ));
                    return Ok(Ending::TooLong);
                }
                Line::End if line.is_empty() => return Ok(Ending::Finished),
                Line::End => {} // its last line, without a newline
            }
            self.place
                .last_active
                .store(self.server.now_us(), Ordering::Relaxed);
            // At most MAX_UNSENT bytes wait in `writer`: past that, this
            // write waits until the kernel takes them, and meanwhile we
            // read nothing more from this client. That is backpressure.
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            writer.write_all(b"OK ... ").await.map_err(write_failed)?;
            writer.write_all(text).await.map_err(write_failed)?;
            writer.write_all(b"\n").await.map_err(write_failed)?;
            line.clear();
        }
    }
    // ANCHOR_END: converse
}

// ANCHOR: read_line
/// Reads up to the next newline, but never more than MAX_LINE bytes in all.
/// Cancelled (by a `select!`), it keeps what it read in `line`, and the
/// next call goes on from there.
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> io::Result<Line> {
    let room = (MAX_LINE - line.len()) as u64;
    (&mut *reader).take(room).read_until(b'\n', line).await?;
    Ok(if line.ends_with(b"\n") {
        Line::Complete
    } else if line.len() >= MAX_LINE {
        Line::TooLong
    } else {
        Line::End
    })
}
// ANCHOR_END: read_line

// ANCHOR: goodbye
/// Sends what the client is owed and `goodbye`, closes our side, and waits
/// a little for the client to close its side: closing while its input is
/// still arriving would reset the connection, and the reset could throw
/// away our last words before the client read them.
async fn say_goodbye(
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut BufWriter<OwnedWriteHalf>,
    goodbye: &[u8],
) -> Result<(), String> {
    let farewell = async {
        writer.write_all(goodbye).await?;
        writer.flush().await?;
        writer.shutdown().await?; // the client reads the end of the stream
        // Whatever it still sends is read and thrown away, until it closes.
        let mut sink = [0u8; 4096];
        while reader.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    match timeout(LINGER, farewell).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) if err.kind() == ErrorKind::ConnectionReset => Ok(()),
        Ok(Err(err)) => Err(format!("could not say goodbye: {err}")),
        Err(_) => Err(format!(
            "did not close within {} s of its goodbye",
            LINGER.as_secs()
        )),
    }
}
// ANCHOR_END: goodbye

// ANCHOR: log
/// Writes one line of the log to `out` if it can be written now, and drops
/// it otherwise (chapter 1): a task must never wait for a terminal or a
/// pipe, or the thread it runs on stops running every other task too.
/// `out` is locked before poll() asks: on two worker threads, two lines
/// could otherwise both see room for one.
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
    log_to(io::stdout().lock(), line)
}

/// A line about an error, on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr().lock(), line)
}
// ANCHOR_END: log
