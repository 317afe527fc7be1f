// [starter]
// //! Exercise 12-1: Listing 12-2, in which every client idle for longer than
// //! MAX_IDLE_SECS is to be told so and let go, full server or not, when its
// //! time is up, by a loop that sleeps until the nearest deadline. As given,
// //! it is Listing 12-2: a client idle too long goes only to make room.
// //!
// //! Run it with `cargo run -p ch12-exercise-idle-deadlines -- [--edge]
// //! [ADDR [MAX_CLIENTS [MAX_IDLE_SECS]]]` (defaults 127.0.0.1:5000, 10
// //! clients and 30 seconds).
// [solution]
//! Exercise 12-1 (the book's answer): Listing 12-2, in which every client
//! idle for longer than MAX_IDLE_SECS is told so and let go, full server
//! or not, when its time is up. The nearest deadline is the first of the
//! clients ordered by their last activity; epoll_wait() sleeps until then.
//!
//! Run it with `cargo run -p ch12-exercise-idle-deadlines -- [--edge]
//! [ADDR [MAX_CLIENTS [MAX_IDLE_SECS]]]` (defaults 127.0.0.1:5000, 10
//! clients and 30 seconds).
// [end]

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::epoll::{
    Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout,
};
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// How many clients are served at once. The next one is turned away.
const MAX_CLIENTS: usize = 10;
/// The longest line a client may send, newline included.
const MAX_LINE: usize = 1024;
/// How many bytes of replies may wait for a client that does not read them.
const MAX_UNSENT: usize = 64 * 1024;
/// While every slot is taken, a client that has sent no line for this long
/// gives its slot to the next one.
const MAX_IDLE: Duration = Duration::from_secs(30);
/// How many reads of 4 KiB, or accepts, one socket gets per turn: a client
/// that sends without pause must not keep the others waiting.
const TURN: usize = 16;
/// How many ready sockets one epoll_wait() returns at most; the others wait
/// for the next call, on the kernel's ready list.
const EVENTS: usize = 1024;
/// The listener's token in epoll's events. A client's token is its slot.
const LISTENER: u64 = u64::MAX;

/// The original's welcome, word for word: a client cannot tell the
/// servers apart before it sends a line.
const WELCOME: &[u8] = b"Welcome to php socket server version 1.0 \n\
    Enter a message and press enter, and i shall reply back \n";
const FULL: &[u8] = b"Sorry, the server is full. Try again later.\n";
const IDLE: &[u8] =
    b"Sorry, the server is full and you have been idle too long. Goodbye.\n";
const TOO_LONG: &[u8] = b"Sorry, a line may be at most 1024 bytes. Goodbye.\n";
// [starter]
// [solution]
// ANCHOR: solution_message
/// What a client idle too long hears, full server or not.
const IDLE_TOO_LONG: &[u8] = b"Sorry, you have been idle too long. Goodbye.\n";
// ANCHOR_END: solution_message
// [end]

/// One connected client, and the bytes in flight to and from it: Listing
/// 5-1's, and what epoll has been asked to report for it.
struct Client {
    /// Non-blocking: a read or write that would wait fails with WouldBlock.
    stream: TcpStream,
    peer: SocketAddr,
    /// What arrived after the last newline: the start of the next line.
    partial_line: Vec<u8>,
    /// Replies the kernel could not take yet, oldest first.
    unsent: Vec<u8>,
    /// The client has finished sending (read returned 0).
    finished_sending: bool,
    /// When it last sent a line or took some of its replies.
    last_active: Instant,
    /// It was told to leave: its input is read and thrown away.
    leaving: bool,
    /// The events epoll reports for it (level-triggered: only what we will
    /// act on; edge-triggered: input and output, once, for good).
    interest: EpollFlags,
}

/// How epoll reports a ready socket.
#[derive(Clone, Copy, PartialEq)]
enum Trigger {
    /// As long as it is ready, on every wait, like select() and poll(): the
    /// server may read once per wakeup, and must ask only for what it
    /// will act on.
    Level,
    /// Once, when it becomes ready (EPOLLET): the server must read until
    /// WouldBlock, or the rest of the input waits for bytes that may
    /// never come.
    Edge,
}

/// Everything the loop works with.
struct Server {
    epoll: Epoll,
    listener: TcpListener,
    trigger: Trigger,
    /// The clients, by slot; a slot's number is the client's token.
    slots: Vec<Option<Client>>,
    /// Free slots below `slots.len()`, lowest first. The vector grows up
    /// to `max_clients`.
    free: BTreeSet<usize>,
    max_clients: usize,
    /// Every client by the time of its last activity, then its slot: the
    /// first is the one idle the longest, found without a scan.
    by_activity: BTreeSet<(Instant, usize)>,
    max_idle: Duration,
    /// Edge-triggered only: sockets whose turn ended before they were
    /// drained. No new edge will come for them: they are served again on
    /// the next round, before the server sleeps.
    unfinished: VecDeque<u64>,
    /// After accept() ran out of descriptors: when to try again, and how
    /// long to wait the next time it does.
    retry_at: Option<Instant>,
    pause: Duration,
}

// [starter]
// pub fn main() -> ExitCode {
// [solution]
pub fn main() -> ExitCode {
    // [end]
    // Ten thousand clients need ten thousand descriptors; the usual soft
    // limit is 1024. Raise it to the hard limit, as any process may.
    let most_clients = raise_descriptor_limit();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let trigger = match args.iter().position(|arg| arg == "--edge") {
        Some(at) => {
            args.remove(at);
            Trigger::Edge
        }
        None => Trigger::Level,
    };
    let mut args = args.into_iter();
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let max_clients = match args.next() {
        None => MAX_CLIENTS,
        Some(text) => match text.parse::<usize>() {
            Ok(count) if (1..=most_clients).contains(&count) => count,
            _ => {
                eprintln!(
                    "MAX_CLIENTS must be a number of clients, 1 to \
                     {most_clients}, not {text:?}"
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
        //     "usage: ch12-exercise-idle-deadlines [--edge] [ADDR \
        //      [MAX_CLIENTS [MAX_IDLE_SECS]]]"
        // );
        // [solution]
        eprintln!(
            "usage: ch12-exercise-idle-deadlines [--edge] [ADDR \
             [MAX_CLIENTS [MAX_IDLE_SECS]]]"
        );
        // [end]
        return ExitCode::from(2);
    }

    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = listener.set_nonblocking(true) {
        eprintln!("could not make {addr} non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    // The epoll instance: a descriptor that stands for the kernel's interest
    // list and ready list. The listener joins the interest list once.
    let epoll = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
        Ok(epoll) => epoll,
        Err(err) => {
            eprintln!("could not create an epoll instance: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut server = Server {
        epoll,
        listener,
        trigger,
        slots: Vec::new(),
        free: BTreeSet::new(),
        max_clients,
        by_activity: BTreeSet::new(),
        max_idle,
        unfinished: VecDeque::new(),
        retry_at: None,
        pause: FIRST_PAUSE,
    };
    let listening = EpollEvent::new(server.listener_interest(), LISTENER);
    if let Err(err) = server.epoll.add(server.listener.as_fd(), listening) {
        eprintln!("could not watch {addr} with epoll: {err}");
        return ExitCode::FAILURE;
    }
    match server.listener.local_addr() {
        Ok(local) => log(format_args!("listening on {local}")),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            warn(format_args!("epoll_wait failed: {err}"));
            ExitCode::FAILURE
        }
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit
/// (`ulimit -n` to `ulimit -Hn`), which needs no privilege, and returns how
/// many clients that leaves room for: the limit less stdin, stdout, stderr,
/// the listener and the epoll instance.
fn raise_descriptor_limit() -> usize {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1;
    };
    let limit = match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => hard,
        Err(_) => soft,
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    limit.saturating_sub(5).max(1)
}

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

impl Server {
    /// The loop: wait for ready sockets, and serve each of them.
    fn run(&mut self) -> nix::Result<()> {
        let mut events = vec![EpollEvent::empty(); EVENTS];
        loop {
            let ready = match self.epoll.wait(&mut events, self.timeout()) {
                Ok(ready) => ready,
                // A signal arrived while we slept: nothing is ready.
                Err(Errno::EINTR) => continue,
                Err(err) => return Err(err),
            };
            if self.retry_at.is_some_and(|at| Instant::now() >= at) {
                self.end_pause(); // watch the listener again
            }
            // [starter]
            // // ANCHOR: task_sweep
            // // TODO: let every client idle for longer than `max_idle` go.
            // // ANCHOR_END: task_sweep
            // [solution]
            // ANCHOR: solution_sweep
            self.let_idle_clients_go();
            // ANCHOR_END: solution_sweep
            // [end]
            // Only the sockets that are ready: no scan of all the clients.
            for event in &events[..ready] {
                let happened = event.events();
                let readable = happened.intersects(
                    EpollFlags::EPOLLIN
                        | EpollFlags::EPOLLHUP
                        | EpollFlags::EPOLLERR,
                );
                let writable = happened
                    .intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLERR);
                self.serve(event.data(), readable, writable);
            }
            // Edge-triggered: the sockets whose turn ran out before they
            // were drained get another, although no event names them.
            for _ in 0..self.unfinished.len() {
                if let Some(token) = self.unfinished.pop_front() {
                    self.serve(token, true, false);
                }
            }
        }
    }

    /// How long epoll_wait() may sleep: not at all while a socket waits for
    /// its next turn, until the end of a pause after accept() ran out of
    /// descriptors, and otherwise until something happens.
    // [starter]
    // // ANCHOR: task_timeout
    // // TODO: sleep no longer than until the nearest deadline of an idle
    // // client. The clients ordered by their last activity are in
    // // `self.by_activity`: the first is the idlest.
    // fn timeout(&self) -> EpollTimeout {
    //     if !self.unfinished.is_empty() {
    //         return EpollTimeout::ZERO;
    //     }
    //     match self.retry_at {
    //         None => EpollTimeout::NONE,
    //         Some(at) => {
    //             // Milliseconds, rounded up, or a pause of less than one
    //             // would make the loop spin until it ends.
    //             let left = at.saturating_duration_since(Instant::now());
    //             let millis = left.as_micros().div_ceil(1000);
    //             EpollTimeout::try_from(millis).unwrap_or(EpollTimeout::MAX)
    //         }
    //     }
    // }
    // // ANCHOR_END: task_timeout
    // [solution]
    // ANCHOR: solution_timeout
    fn timeout(&self) -> EpollTimeout {
        if !self.unfinished.is_empty() {
            return EpollTimeout::ZERO;
        }
        // The nearest deadline: the client idle the longest is the first
        // to be due. No client, no deadline.
        let idle_due = self
            .by_activity
            .first()
            .map(|&(since, _)| since + self.max_idle);
        let wake_at = match (self.retry_at, idle_due) {
            (Some(retry), Some(due)) => Some(retry.min(due)),
            (retry, due) => retry.or(due),
        };
        match wake_at {
            None => EpollTimeout::NONE,
            Some(at) => {
                // Milliseconds, rounded up, or a pause of less than one
                // would make the loop spin until it ends.
                let left = at.saturating_duration_since(Instant::now());
                let millis = left.as_micros().div_ceil(1000);
                EpollTimeout::try_from(millis).unwrap_or(EpollTimeout::MAX)
            }
        }
    }
    // ANCHOR_END: solution_timeout

    // ANCHOR: solution_let_go
    /// Lets every client whose deadline has passed go, the idlest first,
    /// telling each why. The first one still within its time ends the
    /// sweep: the ones after it have been idle for less.
    fn let_idle_clients_go(&mut self) {
        while let Some(&(since, slot)) = self.by_activity.first() {
            if since.elapsed() < self.max_idle {
                break;
            }
            self.by_activity.remove(&(since, slot));
            if let Some(client) = self.slots[slot].as_mut() {
                log(format_args!(
                    "slot {slot}: {} dropped: idle for more than {} s",
                    client.peer,
                    self.max_idle.as_secs()
                ));
                client.unsent.extend_from_slice(IDLE_TOO_LONG);
                let _ = client.flush();
            }
            self.remove(slot);
        }
    }
    // ANCHOR_END: solution_let_go
    // [end]

    /// Serves the socket of `token`: accepts on the listener, or serves a
    /// client.
    fn serve(&mut self, token: u64, readable: bool, writable: bool) {
        if token == LISTENER {
            if readable && self.retry_at.is_none() {
                self.accept_waiting();
            }
            return;
        }
        let Ok(slot) = usize::try_from(token) else {
            return;
        };
        if readable || writable {
            self.serve_client(slot, readable);
        }
    }

    /// Reads from a client, if it is readable, and sends what it can; then
    /// keeps epoll and the order of activity up to date, or lets it go.
    fn serve_client(&mut self, slot: usize, readable: bool) {
        let reads = match self.trigger {
            Trigger::Level => 1,
            Trigger::Edge => TURN,
        };
        // An event may name a client dropped earlier in this round.
        let Some(Some(client)) = self.slots.get_mut(slot) else {
            return;
        };
        let was_active = client.last_active;
        let peer = client.peer;
        match client.serve(readable, reads) {
            Err(reason) => {
                log(format_args!("slot {slot}: {peer} dropped: {reason}"));
            }
            Ok(_) if client.is_done() => {
                log(format_args!("slot {slot}: {peer} disconnected"));
            }
            Ok(input_left) => {
                let now_active = client.last_active;
                let wanted = match self.trigger {
                    Trigger::Level => client.wanted_events(),
                    Trigger::Edge => client.interest,
                };
                if wanted != client.interest {
                    client.interest = wanted;
                    let mut event = EpollEvent::new(wanted, slot as u64);
                    if let Err(err) =
                        self.epoll.modify(client.stream.as_fd(), &mut event)
                    {
                        let reason = format!("could not watch it: {err}");
                        log(format_args!(
                            "slot {slot}: {peer} dropped: {reason}"
                        ));
                        self.remove(slot);
                        return;
                    }
                }
                if now_active != was_active {
                    self.by_activity.remove(&(was_active, slot));
                    self.by_activity.insert((now_active, slot));
                }
                if input_left && self.trigger == Trigger::Edge {
                    self.unfinished.push_back(slot as u64);
                }
                return;
            }
        }
        self.remove(slot);
    }

    /// Lets the client in `slot` go: closing its socket also takes it off
    /// epoll's interest list. Its descriptor is free: a pause for want of
    /// descriptors can end.
    fn remove(&mut self, slot: usize) {
        if let Some(client) = self.slots[slot].take() {
            self.by_activity.remove(&(client.last_active, slot));
            self.free.insert(slot);
        }
        if self.retry_at.is_some() {
            self.end_pause();
        }
    }

    /// Accepts waiting connections, up to a turn's worth. Edge-triggered, a
    /// listener with connections left is served again next round: no new
    /// edge would come for them until yet another client connects.
    fn accept_waiting(&mut self) {
        for _ in 0..TURN {
            match self.admit() {
                Admitted::Yes => self.pause = FIRST_PAUSE,
                Admitted::NotNow => return,
                Admitted::OutOfDescriptors => {
                    self.retry_at = Some(Instant::now() + self.pause);
                    self.pause = (self.pause * 2).min(LAST_PAUSE);
                    // Level-triggered, the waiting connection would wake
                    // us at once, again and again: stop watching.
                    self.watch_listener(EpollFlags::empty());
                    return;
                }
            }
        }
        if self.trigger == Trigger::Edge {
            self.unfinished.push_back(LISTENER);
        }
    }

    /// What epoll is asked to report for the listener.
    fn listener_interest(&self) -> EpollFlags {
        match self.trigger {
            Trigger::Level => EpollFlags::EPOLLIN,
            Trigger::Edge => EpollFlags::EPOLLIN | EpollFlags::EPOLLET,
        }
    }

    /// Ends a pause after accept() ran out of descriptors. Changing the
    /// listener's events makes epoll look at it again, so a connection
    /// that waited through the pause is reported, edge-triggered too.
    fn end_pause(&mut self) {
        self.retry_at = None;
        self.watch_listener(self.listener_interest());
    }

    fn watch_listener(&mut self, events: EpollFlags) {
        let mut event = EpollEvent::new(events, LISTENER);
        if let Err(err) = self.epoll.modify(self.listener.as_fd(), &mut event) {
            warn(format_args!("could not watch the listener: {err}"));
        }
    }

    /// Accepts one waiting connection: into a free slot if there is one, or
    /// one that a client idle too long gives up, or only to say "sorry".
    fn admit(&mut self) -> Admitted {
        let (stream, peer) = match self.listener.accept() {
            Ok(connection) => connection,
            Err(err) if is_not_now(&err) => return Admitted::NotNow,
            Err(err) if err.raw_os_error().is_some_and(is_out_of_files) => {
                warn(format_args!("could not accept a connection: {err}"));
                return Admitted::OutOfDescriptors;
            }
            Err(err) => {
                warn(format_args!("could not accept a connection: {err}"));
                return Admitted::NotNow;
            }
        };
        let slot = match self.free_slot() {
            Some(slot) => slot,
            None => {
                let reason =
                    format!("all {} slots are taken", self.max_clients);
                refuse(stream, peer, &reason);
                return Admitted::Yes;
            }
        };
        if let Err(err) = stream.set_nonblocking(true) {
            warn(format_args!(
                "could not make {peer}'s socket non-blocking: {err}"
            ));
            self.free.insert(slot);
            return Admitted::Yes;
        }
        let interest = match self.trigger {
            Trigger::Level => EpollFlags::EPOLLIN,
            Trigger::Edge => {
                EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET
            }
        };
        let event = EpollEvent::new(interest, slot as u64);
        if let Err(err) = self.epoll.add(stream.as_fd(), event) {
            warn(format_args!("could not watch {peer} with epoll: {err}"));
            self.free.insert(slot);
            return Admitted::Yes;
        }
        log(format_args!("slot {slot}: {peer} connected"));
        let mut client = Client {
            stream,
            peer,
            partial_line: Vec::new(),
            unsent: WELCOME.to_vec(),
            finished_sending: false,
            last_active: Instant::now(),
            leaving: false,
            interest,
        };
        // A new socket's send buffer is empty, so this sends the whole
        // welcome: level-triggered, the client needs no EPOLLOUT.
        if let Err(err) = client.flush() {
            log(format_args!(
                "slot {slot}: {peer} dropped: could not write: {err}"
            ));
            self.free.insert(slot);
            return Admitted::Yes;
        }
        self.by_activity.insert((client.last_active, slot));
        if slot == self.slots.len() {
            self.slots.push(Some(client));
        } else {
            self.slots[slot] = Some(client);
        }
        Admitted::Yes
    }

    /// The lowest free slot, a new one while there are fewer than
    /// `max_clients`, or the slot of the client idle the longest if that
    /// is longer than `max_idle`: it is told why, and let go.
    fn free_slot(&mut self) -> Option<usize> {
        if let Some(slot) = self.free.pop_first() {
            return Some(slot);
        }
        if self.slots.len() < self.max_clients {
            return Some(self.slots.len());
        }
        let &(since, slot) = self.by_activity.first()?;
        if since.elapsed() < self.max_idle {
            return None;
        }
        self.by_activity.remove(&(since, slot));
        let mut client = self.slots[slot].take()?;
        log(format_args!(
            "slot {slot}: {} dropped: idle for more than {} s while the \
             server is full",
            client.peer,
            self.max_idle.as_secs()
        ));
        client.unsent.extend_from_slice(IDLE);
        let _ = client.flush();
        Some(slot)
    }
}

/// Tells a client we cannot serve it why, and closes the connection.
fn refuse(mut stream: TcpStream, peer: SocketAddr, reason: &str) {
    log(format_args!("{peer} refused: {reason}"));
    // A short message into an empty send buffer: this write does not block.
    let _ = stream.write_all(FULL);
}

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

    /// Level-triggered, the events to ask for: only what we will act on,
    /// as with select(). A socket at end of stream stays readable, and one
    /// with room stays writable: either would wake us for nothing.
    fn wanted_events(&self) -> EpollFlags {
        let mut events = EpollFlags::empty();
        if !self.finished_sending {
            events |= EpollFlags::EPOLLIN;
        }
        if !self.unsent.is_empty() {
            events |= EpollFlags::EPOLLOUT;
        }
        events
    }

    /// Reads, if the socket is readable, at most `reads` times or until the
    /// kernel has nothing more; then sends what it can. Returns whether
    /// input may be left, or why the client must be dropped.
    fn serve(&mut self, readable: bool, reads: usize) -> Result<bool, String> {
        let mut input_left = false;
        if readable && !self.finished_sending {
            input_left = true;
            for _ in 0..reads {
                if !self.receive()? {
                    input_left = false; // drained: WouldBlock, or the end
                    break;
                }
            }
        }
        self.flush()
            .map_err(|err| format!("could not write: {err}"))?;
        if self.unsent.len() > MAX_UNSENT {
            let unread = self.unsent.len();
            return Err(format!("{unread} bytes of replies unread"));
        }
        Ok(input_left)
    }

    /// Reads once, and queues a reply for every complete line. Returns
    /// whether it read anything: false when the kernel had nothing for us
    /// (WouldBlock) or the client has finished sending.
    fn receive(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 4096];
        let received = match self.stream.read(&mut chunk) {
            Ok(received) => received,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                return Ok(false);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {
                return Ok(true); // try again
            }
            Err(err) => return Err(format!("could not read: {err}")),
        };
        if received == 0 {
            // End of stream: what came after the last newline is the last
            // line.
            self.finished_sending = true;
            if !self.partial_line.is_empty() && !self.leaving {
                let last = std::mem::take(&mut self.partial_line);
                self.queue_reply(&last);
            }
            return Ok(false);
        }
        if self.leaving {
            return Ok(true); // its lines are no longer answered
        }
        self.partial_line.extend_from_slice(&chunk[..received]);
        while let Some(end) =
            self.partial_line.iter().position(|&byte| byte == b'\n')
        {
            if end + 1 > MAX_LINE {
                self.say_goodbye();
                return Ok(true);
            }
            let line: Vec<u8> = self.partial_line.drain(..=end).collect();
            self.queue_reply(&line);
            self.last_active = Instant::now();
        }
        if self.partial_line.len() >= MAX_LINE {
            self.say_goodbye();
        }
        Ok(true)
    }

    /// Queues `OK ... <line>`, with our own line ending.
    fn queue_reply(&mut self, line: &[u8]) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.unsent.extend_from_slice(b"OK ... ");
        self.unsent.extend_from_slice(text);
        self.unsent.push(b'\n');
    }

    /// Tells a client whose line is too long why it must go, after the
    /// replies it is owed; the connection closes once both sides are done.
    fn say_goodbye(&mut self) {
        log(format_args!(
            "{} is told to leave: line longer than {MAX_LINE} bytes",
            self.peer
        ));
        self.leaving = true;
        self.partial_line = Vec::new();
        self.unsent.extend_from_slice(TOO_LONG);
    }

    /// Writes as much of `unsent` as the kernel takes without blocking.
    fn flush(&mut self) -> io::Result<()> {
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                Ok(written) => {
                    self.unsent.drain(..written);
                    self.last_active = Instant::now();
                    if self.leaving && self.unsent.is_empty() {
                        self.stream.shutdown(Shutdown::Write)?;
                    }
                }
                // The send buffer is full: the rest waits for EPOLLOUT.
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a full or closed stdout must not stop the server.
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
