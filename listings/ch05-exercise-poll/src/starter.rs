//! Exercise 5-2 (your work): Listing 5-1, to be changed to wait with
//! poll(2) instead of select(2), so that it serves clients whose descriptors
//! are 1024 or more. The TODO comments mark the spots.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::select::{FD_SETSIZE, FdSet, select};
use nix::sys::time::TimeVal;

// ANCHOR: limits
/// How many clients are served at once. The next one is turned away.
const MAX_CLIENTS: usize = 10;
/// The longest line a client may send, newline included.
const MAX_LINE: usize = 1024;
/// How many bytes of replies may wait for a client that does not read them.
const MAX_UNSENT: usize = 64 * 1024;
/// While every slot is taken, a client that has sent no line for this long
/// gives its slot to the next one.
const MAX_IDLE: Duration = Duration::from_secs(30);
// ANCHOR_END: limits

/// The original's welcome, word for word: a client cannot tell the two
/// servers apart before it sends a line.
const WELCOME: &[u8] = b"Welcome to php socket server version 1.0 \n\
    Enter a message and press enter, and i shall reply back \n";
const FULL: &[u8] = b"Sorry, the server is full. Try again later.\n";
const IDLE: &[u8] =
    b"Sorry, the server is full and you have been idle too long. Goodbye.\n";
const TOO_LONG: &[u8] = b"Sorry, a line may be at most 1024 bytes. Goodbye.\n";

// ANCHOR: client
/// One connected client, and the bytes in flight to and from it.
struct Client {
    /// Non-blocking: a read or write that would wait fails with WouldBlock.
    stream: TcpStream,
    peer: SocketAddr,
    /// What arrived after the last newline: the start of the next line.
    partial_line: Vec<u8>,
    /// Replies the kernel could not take yet, oldest first.
    unsent: Vec<u8>,
    /// The client has finished sending (read returned 0). We close the
    /// connection once its last replies are sent.
    finished_sending: bool,
    /// When it last sent a line or took some of its replies.
    last_active: Instant,
    /// It was told to leave: its input is read and thrown away, and once
    /// its replies and the goodbye are sent, we finish sending too.
    leaving: bool,
}
// ANCHOR_END: client

pub fn main() -> ExitCode {
    // The address to listen on, how many clients to serve at once (the load
    // test of this chapter raises it to 1,000), and how long a client may
    // stay idle while the server is full.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let max_clients = match args.next() {
        None => MAX_CLIENTS,
        Some(text) => match text.parse::<usize>() {
            Ok(count) if (1..=most_clients()).contains(&count) => count,
            _ => {
                eprintln!(
                    "MAX_CLIENTS must be a number of clients, 1 to {}, not \
                     {text:?}",
                    most_clients()
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
            "usage: ch05-exercise-poll [ADDR [MAX_CLIENTS [MAX_IDLE_SECS]]]"
        );
        return ExitCode::from(2);
    }

    // ANCHOR: listen
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // select() says when accept() will not block. Non-blocking makes sure of
    // it: should the connection vanish in between, accept() fails at once
    // with WouldBlock instead of stopping every client until the next one.
    if let Err(err) = listener.set_nonblocking(true) {
        eprintln!("could not make {addr} non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    match listener.local_addr() {
        Ok(local) => log(format_args!("listening on {local}")),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }
    // ANCHOR_END: listen

    // ANCHOR: serve
    // One slot per client, like the original's $client_socks array.
    let mut slots: Vec<Option<Client>> = Vec::new();
    slots.resize_with(max_clients, || None);
    // After accept() ran out of descriptors: when to try it again, and how
    // long to wait the next time it does (see `admit`).
    let mut retry_at: Option<Instant> = None;
    let mut pause = FIRST_PAUSE;
    loop {
        let (new_connection, ready) = match wait(&listener, &slots, retry_at) {
            Ok(ready) => ready,
            // A signal arrived while we slept: nothing is ready, ask again.
            Err(Errno::EINTR) => continue,
            Err(err) => {
                warn(format_args!("select failed: {err}"));
                return ExitCode::FAILURE;
            }
        };
        if retry_at.is_some_and(|at| Instant::now() >= at) {
            retry_at = None; // the pause is over: watch the listener again
        }
        if new_connection {
            match admit(&listener, &mut slots, max_idle) {
                Admitted::OutOfDescriptors => {
                    retry_at = Some(Instant::now() + pause);
                    pause = (pause * 2).min(LAST_PAUSE);
                }
                Admitted::Yes => pause = FIRST_PAUSE,
                Admitted::NotNow => {}
            }
        }
        for (index, slot) in slots.iter_mut().enumerate() {
            let (readable, writable) = ready[index];
            let Some(client) = slot else { continue };
            if !readable && !writable {
                continue;
            }
            let peer = client.peer;
            match client.serve(readable) {
                Err(reason) => {
                    log(format_args!("slot {index}: {peer} dropped: {reason}"));
                }
                Ok(()) if client.is_done() => {
                    log(format_args!("slot {index}: {peer} disconnected"));
                }
                Ok(()) => continue,
            }
            // Dropping the client closes its socket and frees the slot. Had
            // we kept it, select() would report its end of stream forever.
            *slot = None;
            // Its descriptor is free: no need to wait for the pause to end.
            retry_at = None;
        }
    }
    // ANCHOR_END: serve
}

// ANCHOR: task_wait
// TODO: wait with nix::poll::poll() instead.
/// Sleeps in select() until a socket is ready. Returns whether a connection
/// is waiting to be accepted and, slot by slot, whether the client's socket
/// is readable and writable. Until `retry_at`, if given, the listener is
/// left out: accept() has run out of descriptors.
fn wait(
    listener: &TcpListener,
    slots: &[Option<Client>],
    retry_at: Option<Instant>,
) -> nix::Result<(bool, Vec<(bool, bool)>)> {
    let mut read_set = FdSet::new();
    let mut write_set = FdSet::new();
    if retry_at.is_none() {
        read_set.insert(listener.as_fd());
    }
    for client in slots.iter().flatten() {
        // Ask only about what we will act on. A client that has finished
        // sending stays readable (end of stream) forever, and almost every
        // socket is writable almost always: either would wake us for
        // nothing.
        if !client.finished_sending {
            read_set.insert(client.stream.as_fd());
        }
        if !client.unsent.is_empty() {
            write_set.insert(client.stream.as_fd());
        }
    }
    // No timeout: sleep until something happens. The one exception is a
    // pause after accept() ran out of descriptors: wake up when it is over.
    let mut until_retry = retry_at.map(|at| {
        let left = at.saturating_duration_since(Instant::now());
        TimeVal::new(left.as_secs() as _, left.subsec_micros() as _)
    });
    select(
        None,
        &mut read_set,
        &mut write_set,
        None,
        until_retry.as_mut(),
    )?;

    // select() has overwritten the sets: now they hold only the ready
    // sockets.
    let new_connection = read_set.contains(listener.as_fd());
    let ready = slots
        .iter()
        .map(|slot| match slot {
            Some(client) => (
                read_set.contains(client.stream.as_fd()),
                write_set.contains(client.stream.as_fd()),
            ),
            None => (false, false),
        })
        .collect();
    Ok((new_connection, ready))
}
// ANCHOR_END: task_wait

// ANCHOR: task_most
// TODO: with poll(), the bound is how many descriptors the process may have.
/// The most clients select() can watch: descriptors 0 to 3 are stdin,
/// stdout, stderr and the listener, and select() watches no descriptor from
/// FD_SETSIZE (1024) up.
fn most_clients() -> usize {
    FD_SETSIZE - 4
}
// ANCHOR_END: task_most

/// The first pause after accept() ran out of descriptors, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LAST_PAUSE: Duration = Duration::from_secs(1);

/// What became of a waiting connection.
enum Admitted {
    /// It has a slot, or was told why not: either way, it left the queue.
    Yes,
    /// Nobody was waiting after all, or a signal came first.
    NotNow,
    /// accept() failed with EMFILE or ENFILE: it is still in the queue.
    OutOfDescriptors,
}

// ANCHOR: admit
/// Accepts the waiting connection: into a free slot if there is one, or one
/// that a client idle too long gives up, or only to say "sorry" and close it.
fn admit(
    listener: &TcpListener,
    slots: &mut [Option<Client>],
    max_idle: Duration,
) -> Admitted {
    let (stream, peer) = match listener.accept() {
        Ok(connection) => connection,
        // The client gave up (or a signal came) between select() and accept().
        Err(err) if is_not_now(&err) => return Admitted::NotNow,
        // EMFILE or ENFILE: the connection stays queued, so the listener
        // stays readable. Asking select() about it again would return at
        // once, again and again: the loop would spin. So we stop asking.
        Err(err) if err.raw_os_error().is_some_and(is_out_of_files) => {
            warn(format_args!("could not accept a connection: {err}"));
            return Admitted::OutOfDescriptors;
        }
        Err(err) => {
            warn(format_args!("could not accept a connection: {err}"));
            return Admitted::NotNow;
        }
    };
    // ANCHOR: task_admit
    // TODO: with poll(), this check has no reason to be.
    // FdSet can only hold descriptors below FD_SETSIZE (1024), and nix
    // panics rather than write past its end. A client we cannot watch is a
    // client we cannot serve.
    let descriptor = stream.as_raw_fd();
    if descriptor >= FD_SETSIZE as RawFd {
        let reason = format!(
            "descriptor {descriptor} is too large for select \
             (FD_SETSIZE is {FD_SETSIZE})"
        );
        refuse(stream, peer, &reason);
        return Admitted::Yes;
    }
    // ANCHOR_END: task_admit
    // Accept even when every slot is taken: a connection we left in the
    // queue would keep the listener readable, and select() would return at
    // once, forever. Then a client idle too long makes room, or the new one
    // is told "sorry", and the queue is empty.
    let free = match slots.iter().position(Option::is_none) {
        Some(free) => free,
        None => match make_room(slots, max_idle) {
            Some(freed) => freed,
            None => {
                let reason = format!("all {} slots are taken", slots.len());
                refuse(stream, peer, &reason);
                return Admitted::Yes;
            }
        },
    };
    if let Err(err) = stream.set_nonblocking(true) {
        warn(format_args!(
            "could not make {peer}'s socket non-blocking: {err}"
        ));
        return Admitted::Yes;
    }
    log(format_args!("slot {free}: {peer} connected"));
    let mut client = Client {
        stream,
        peer,
        partial_line: Vec::new(),
        unsent: WELCOME.to_vec(),
        finished_sending: false,
        last_active: Instant::now(),
        leaving: false,
    };
    // A new socket's send buffer is empty, so this sends the whole welcome.
    if let Err(err) = client.flush() {
        log(format_args!(
            "slot {free}: {peer} dropped: could not write: {err}"
        ));
        return Admitted::Yes;
    }
    slots[free] = Some(client);
    Admitted::Yes
}

/// Lets the client that has been idle the longest go, if that is longer
/// than `max_idle`, and returns its slot. It is told why.
fn make_room(
    slots: &mut [Option<Client>],
    max_idle: Duration,
) -> Option<usize> {
    let (index, idlest) = slots
        .iter()
        .enumerate()
        .filter_map(|(index, slot)| Some((index, slot.as_ref()?)))
        .min_by_key(|(_, client)| client.last_active)?;
    if idlest.last_active.elapsed() < max_idle {
        return None;
    }
    let mut client = slots[index].take()?;
    log(format_args!(
        "slot {index}: {} dropped: idle for more than {} s while the server \
         is full",
        client.peer,
        max_idle.as_secs()
    ));
    // Idle, it has been sent all it was owed, unless it does not read: then
    // what the kernel does not take now is lost with it.
    client.unsent.extend_from_slice(IDLE);
    let _ = client.flush();
    Some(index)
}

/// Tells a client we cannot serve it why, and closes the connection.
fn refuse(mut stream: TcpStream, peer: SocketAddr, reason: &str) {
    log(format_args!("{peer} refused: {reason}"));
    // A short message into an empty send buffer: this write does not block.
    // If it fails anyway, the client still sees the connection close.
    let _ = stream.write_all(FULL);
}
// ANCHOR_END: admit

/// Whether an error only means "not now": there is nothing to take yet
/// (WouldBlock), or a signal came first (Interrupted).
fn is_not_now(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

/// Whether accept() failed because the process (EMFILE) or the whole system
/// (ENFILE) has no descriptor left.
fn is_out_of_files(errno: i32) -> bool {
    errno == Errno::EMFILE as i32 || errno == Errno::ENFILE as i32
}

impl Client {
    /// Whether the client has finished sending and has been sent everything.
    fn is_done(&self) -> bool {
        self.finished_sending && self.unsent.is_empty()
    }

    // ANCHOR: client_serve
    /// Does what select() said will not block: reads if the socket is
    /// readable, then sends what it can. Returns why the client must be
    /// dropped, if it must.
    fn serve(&mut self, readable: bool) -> Result<(), String> {
        if readable {
            self.receive()?;
        }
        self.flush()
            .map_err(|err| format!("could not write: {err}"))?;
        // The kernel has taken all it will. What is left waits here, and a
        // client that never reads would make it grow without end.
        if self.unsent.len() > MAX_UNSENT {
            let unread = self.unsent.len();
            return Err(format!("{unread} bytes of replies unread"));
        }
        Ok(())
    }
    // ANCHOR_END: client_serve

    // ANCHOR: receive
    /// Reads once, and queues a reply for every complete line.
    fn receive(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        let received = match self.stream.read(&mut chunk) {
            Ok(received) => received,
            Err(err) if is_not_now(&err) => return Ok(()),
            Err(err) => return Err(format!("could not read: {err}")),
        };
        if received == 0 {
            // End of stream: the client closed, or half-closed its sending
            // side. What came after its last newline is its last line.
            self.finished_sending = true;
            if !self.partial_line.is_empty() && !self.leaving {
                let last = std::mem::take(&mut self.partial_line);
                self.queue_reply(&last);
            }
            return Ok(());
        }
        if self.leaving {
            return Ok(()); // its lines are no longer answered
        }
        // TCP carries bytes, not lines: this chunk may hold half a line, or
        // several lines. Keep what is incomplete for the next read.
        self.partial_line.extend_from_slice(&chunk[..received]);
        let newline = |bytes: &[u8]| {
            // Where the first newline is, if there is one.
            bytes.iter().position(|&byte| byte == b'\n')
        };
        while let Some(end) = newline(&self.partial_line) {
            if end + 1 > MAX_LINE {
                self.say_goodbye();
                return Ok(());
            }
            let line: Vec<u8> = self.partial_line.drain(..=end).collect();
            self.queue_reply(&line);
            self.last_active = Instant::now();
        }
        if self.partial_line.len() >= MAX_LINE {
            self.say_goodbye();
        }
        Ok(())
    }

    /// Queues `OK ... <line>`. The line's own line ending (`\n`, or telnet's
    /// `\r\n`) is replaced by ours.
    fn queue_reply(&mut self, line: &[u8]) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.unsent.extend_from_slice(b"OK ... ");
        self.unsent.extend_from_slice(text);
        self.unsent.push(b'\n');
    }
    // ANCHOR_END: receive

    // ANCHOR: goodbye
    /// Tells a client whose line is too long why it must go, after the
    /// replies it is owed. The connection is closed once the client has
    /// read them, and closed its side: closing ours while its input is
    /// still arriving would reset the connection, and its kernel could
    /// throw away our last words before it read them.
    fn say_goodbye(&mut self) {
        log(format_args!(
            "{} is told to leave: line longer than {MAX_LINE} bytes",
            self.peer
        ));
        self.leaving = true;
        self.partial_line = Vec::new();
        self.unsent.extend_from_slice(TOO_LONG);
    }
    // ANCHOR_END: goodbye

    // ANCHOR: flush
    /// Writes as much of `unsent` as the kernel takes without blocking.
    fn flush(&mut self) -> io::Result<()> {
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                // A write may take only part of what we offer.
                Ok(written) => {
                    self.unsent.drain(..written);
                    self.last_active = Instant::now();
                    if self.leaving && self.unsent.is_empty() {
                        // All said: the client reads the end of the stream.
                        self.stream.shutdown(Shutdown::Write)?;
                    }
                }
                // The send buffer is full: the rest waits until select()
                // says the socket is writable again.
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
    // ANCHOR_END: flush
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
