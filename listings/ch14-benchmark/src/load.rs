//! The load generator: one thread, one epoll instance, every client a
//! non-blocking socket. It waits only in `epoll_wait`, so a thousand clients
//! cost it no more threads than ten, and what it measures is the server.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{
    Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout,
};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrStorage, connect, socket,
};

/// What a client says and hears: the three protocols of the book's servers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Protocol {
    /// Listing 5-1's (and the PHP original's): a two-line welcome, then
    /// `OK ... <line>` for every line.
    Select,
    /// Chapters 8 and 10: a greeting line, then every line echoed.
    GreetEcho,
    /// Chapter 3's iterative server: no welcome, `OK .. <line>` for the one
    /// line it reads, then it hangs up.
    OneShot,
}

impl Protocol {
    fn welcome_lines(self) -> usize {
        match self {
            Protocol::Select => 2,
            Protocol::GreetEcho => 1,
            Protocol::OneShot => 0,
        }
    }

    /// Whether the first line a client hears says it is welcome (a full
    /// server says otherwise).
    fn welcomes(self, line: &[u8]) -> bool {
        match self {
            Protocol::Select => line.starts_with(b"Welcome"),
            Protocol::GreetEcho => line.starts_with(b"You are connected"),
            Protocol::OneShot => true,
        }
    }

    fn reply_to(self, line: &[u8]) -> Vec<u8> {
        let prefix: &[u8] = match self {
            Protocol::Select => b"OK ... ",
            Protocol::GreetEcho => b"",
            Protocol::OneShot => b"OK .. ",
        };
        [prefix, line].concat()
    }
}

/// What one load measured.
#[derive(Default)]
pub struct Outcome {
    /// Sessions (short load) or replies (long load) completed.
    pub completed: u64,
    /// From the first connection or line to the last reply.
    pub elapsed: Duration,
    /// How long each session or reply took, in microseconds.
    pub times: Vec<u32>,
    /// Sessions or clients that went wrong, and what the first one saw.
    pub failed: u64,
    pub first_failure: Option<String>,
    /// Sessions still under way when the load gave up waiting for them.
    pub unfinished: u64,
}

#[derive(Debug, PartialEq)]
enum Stage {
    Connecting,
    /// Welcome lines still to come.
    Welcome(usize),
    /// A line was sent; its reply has not come yet.
    Waiting,
    /// Connected and welcomed, sending nothing.
    Idle,
}

/// One simulated client.
struct Client {
    stream: TcpStream,
    number: u64,
    stage: Stage,
    /// What arrived after the last newline.
    received: Vec<u8>,
    lines_sent: u64,
    expected: Vec<u8>,
    /// When it began to connect, and when it sent its last line.
    started: Instant,
    sent_at: Instant,
    /// The long load's active clients send lines; the others stay idle.
    active: bool,
    /// Whether the server has said anything to it yet (accepted it, that
    /// is: until then it may be waiting in the listen queue).
    heard: bool,
}

/// What happened to a client when it heard something.
enum Heard {
    Nothing,
    Welcomed,
    Reply(Duration),
}

/// How many short-session clients may wait to be accepted at once.
const UNHEARD_AT_ONCE: usize = 100;

/// No line the servers send is longer than this; a client that receives
/// more without a newline has met a server that does not speak its protocol.
const MAX_LINE: usize = 4096;

/// The clients, their sockets registered with one epoll instance; a
/// client's token is its index in `clients`.
pub struct Generator {
    addr: SocketAddr,
    protocol: Protocol,
    epoll: Epoll,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    next_number: u64,
    outcome: Outcome,
    /// Short sessions: a client hangs up after its first reply, and the time
    /// it took is the whole session's, from connect to reply.
    short: bool,
    /// Clients the server has not yet said anything to.
    unheard: usize,
}

impl Generator {
    pub fn new(addr: SocketAddr, protocol: Protocol) -> Result<Self, String> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|err| format!("could not create an epoll: {err}"))?;
        Ok(Generator {
            addr,
            protocol,
            epoll,
            clients: Vec::new(),
            free: Vec::new(),
            next_number: 0,
            outcome: Outcome::default(),
            short: false,
            unheard: 0,
        })
    }

    // ANCHOR: short
    /// Short sessions: `concurrency` clients at a time, each connecting,
    /// sending one line, reading the reply and hanging up, then starting
    /// over; for `span`, or until `max_count` sessions are done.
    pub fn short_sessions(
        &mut self,
        concurrency: usize,
        span: Duration,
        max_count: u64,
        patience: Duration,
    ) -> Outcome {
        self.short = true;
        let started = Instant::now();
        let deadline = started + span;
        loop {
            let now = Instant::now();
            let done = self.outcome.completed + self.outcome.failed;
            let more = now < deadline && done < max_count;
            // At most UNHEARD_AT_ONCE clients wait to be accepted: a listen
            // queue holds 128, and the kernel drops the SYN of a client that
            // finds it full, which then waits a second for TCP to try again.
            // Beyond that, this would measure TCP's retransmission timer.
            while more
                && self.in_flight() < concurrency
                && self.unheard < UNHEARD_AT_ONCE
            {
                if !self.start_client() {
                    break; // it failed at once: try again after a wait
                }
            }
            if self.in_flight() == 0 {
                break;
            }
            // Sessions under way at the end get `patience` to finish.
            if !more && now > deadline + patience {
                self.outcome.unfinished = self.in_flight() as u64;
                break;
            }
            if let Err(err) = self.turn(Duration::from_millis(10)) {
                self.fail_all(err);
                break;
            }
        }
        let mut outcome = std::mem::take(&mut self.outcome);
        outcome.elapsed = started.elapsed();
        outcome
    }
    // ANCHOR_END: short

    /// The long load's first phase: `clients` clients connect and are
    /// welcomed, at most `at_once` of them connecting at any moment (a
    /// listen queue holds only so many). Fails when a client is turned away
    /// or the server stops welcoming anyone for `patience`.
    pub fn connect_all(
        &mut self,
        clients: usize,
        at_once: usize,
        patience: Duration,
        limit: Duration,
    ) -> Result<(), String> {
        let started = Instant::now();
        let mut last_progress = started;
        let mut welcomed = 0;
        while welcomed < clients {
            let connecting = self.in_flight() - self.connected();
            let room = at_once.saturating_sub(connecting);
            let left = clients - self.next_number as usize;
            for _ in 0..room.min(left) {
                self.start_client();
            }
            if self.outcome.failed > 0 {
                break;
            }
            self.turn(Duration::from_millis(100))?;
            let now_welcomed = self.connected();
            if now_welcomed > welcomed {
                welcomed = now_welcomed;
                last_progress = Instant::now();
            }
            let stuck = last_progress.elapsed() > patience;
            if stuck || started.elapsed() > limit {
                let why = match stuck {
                    true => format!("then none for {} s", patience.as_secs()),
                    false => format!("{} s had passed", limit.as_secs()),
                };
                return Err(format!(
                    "{} of {} clients were connected and welcomed; {why}",
                    grouped(welcomed as u64),
                    grouped(clients as u64),
                ));
            }
        }
        match self.outcome.first_failure.take() {
            None => Ok(()),
            Some(why) => Err(format!(
                "{} of {} clients were connected and welcomed; then {why}",
                grouped(self.connected() as u64),
                grouped(clients as u64)
            )),
        }
    }

    // ANCHOR: long
    /// The long load's second phase: the first `active` clients send a
    /// line, and another as soon as each reply comes, for `span` or until
    /// `max_count` replies; the rest stay connected and idle.
    pub fn exchange(
        &mut self,
        active: usize,
        span: Duration,
        max_count: u64,
        patience: Duration,
    ) -> Outcome {
        let started = Instant::now();
        let deadline = started + span;
        for index in 0..self.clients.len() {
            let Some(client) = &mut self.clients[index] else {
                continue;
            };
            if (client.number as usize) < active {
                client.active = true;
                if let Err(why) = send_line(client, self.protocol) {
                    self.fail(index, why);
                }
            }
        }
        let mut stopped = false;
        loop {
            let now = Instant::now();
            let more = now < deadline && self.outcome.completed < max_count;
            if !more {
                // Stop sending: an active client that hears its reply now
                // goes idle.
                if !stopped {
                    for client in self.clients.iter_mut().flatten() {
                        client.active = false;
                    }
                    stopped = true;
                }
                if self.waiting() == 0 {
                    break;
                }
                // Replies still owed at the end get `patience` to come.
                if now > deadline + patience {
                    self.outcome.unfinished = self.waiting() as u64;
                    break;
                }
            }
            if let Err(err) = self.turn(Duration::from_millis(100)) {
                self.fail_all(err);
                break;
            }
        }
        let mut outcome = std::mem::take(&mut self.outcome);
        outcome.elapsed = started.elapsed();
        outcome
    }
    // ANCHOR_END: long

    /// Clients connected and welcomed, idle or waiting for a reply.
    pub fn connected(&self) -> usize {
        self.clients
            .iter()
            .flatten()
            .filter(|client| {
                matches!(client.stage, Stage::Idle | Stage::Waiting)
            })
            .count()
    }

    fn in_flight(&self) -> usize {
        self.clients.len() - self.free.len()
    }

    fn waiting(&self) -> usize {
        self.clients
            .iter()
            .flatten()
            .filter(|client| client.stage == Stage::Waiting)
            .count()
    }

    /// Opens one more connection. `false` if it failed at once.
    fn start_client(&mut self) -> bool {
        let number = self.next_number;
        self.next_number += 1;
        let stream = match connect_nonblocking(self.addr) {
            Ok(stream) => stream,
            Err(err) => {
                self.count_failure(format!("could not connect: {err}"));
                return false;
            }
        };
        let index = self.free.pop().unwrap_or_else(|| {
            self.clients.push(None);
            self.clients.len() - 1
        });
        // Edge-triggered: one registration for the client's whole life; we
        // read until EAGAIN each time the kernel says something arrived.
        let flags = EpollFlags::EPOLLIN
            | EpollFlags::EPOLLOUT
            | EpollFlags::EPOLLRDHUP
            | EpollFlags::EPOLLET;
        if let Err(err) = self
            .epoll
            .add(stream.as_fd(), EpollEvent::new(flags, index as u64))
        {
            self.free.push(index);
            self.count_failure(format!("could not watch a client: {err}"));
            return false;
        }
        let now = Instant::now();
        self.unheard += 1;
        self.clients[index] = Some(Client {
            stream,
            number,
            stage: Stage::Connecting,
            received: Vec::new(),
            lines_sent: 0,
            expected: Vec::new(),
            started: now,
            sent_at: now,
            active: self.short,
            heard: false,
        });
        true
    }

    /// Waits up to `timeout` for events and handles them.
    fn turn(&mut self, timeout: Duration) -> Result<(), String> {
        let mut events = [EpollEvent::empty(); 256];
        let timeout =
            EpollTimeout::try_from(timeout).unwrap_or(EpollTimeout::MAX);
        let ready = match self.epoll.wait(&mut events, timeout) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => return Ok(()),
            Err(err) => return Err(format!("epoll_wait failed: {err}")),
        };
        for event in &events[..ready] {
            let index = event.data() as usize;
            if let Err(why) = self.on_event(index, event.events()) {
                self.fail(index, why);
            }
        }
        Ok(())
    }

    fn on_event(
        &mut self,
        index: usize,
        flags: EpollFlags,
    ) -> Result<(), String> {
        let protocol = self.protocol;
        let Some(client) = &mut self.clients[index] else {
            return Ok(());
        };
        if client.stage == Stage::Connecting {
            if let Ok(Some(err)) | Err(err) = client.stream.take_error() {
                return Err(format!("could not connect: {err}"));
            }
            if !flags.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLIN) {
                return Ok(());
            }
            client.stage = Stage::Welcome(protocol.welcome_lines());
            if protocol.welcome_lines() == 0 {
                self.welcomed(index)?;
            }
        }
        let mut chunk = [0u8; 4096];
        loop {
            let Some(client) = &mut self.clients[index] else {
                return Ok(());
            };
            let received = match client.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(format!(
                        "the server closed the connection ({})",
                        match client.stage {
                            Stage::Welcome(_) => "before its welcome",
                            Stage::Waiting => "before a reply",
                            _ => "while it was idle",
                        }
                    ));
                }
                Ok(received) => received,
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    return Ok(());
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(format!("could not read: {err}")),
            };
            if !client.heard {
                client.heard = true;
                self.unheard -= 1;
            }
            client.received.extend_from_slice(&chunk[..received]);
            while let Some(end) = self.clients[index]
                .as_ref()
                .and_then(|c| c.received.iter().position(|&b| b == b'\n'))
            {
                let Some(client) = &mut self.clients[index] else {
                    break;
                };
                let line: Vec<u8> = client.received.drain(..=end).collect();
                match hear(client, protocol, &line, self.short)? {
                    Heard::Nothing => {}
                    Heard::Welcomed => self.welcomed(index)?,
                    Heard::Reply(took) => self.replied(index, took)?,
                }
                // A client that has just sent its next line waits for its
                // turn like the others: reading on would let one fast
                // client keep the load to itself. Its reply, when it comes,
                // is new data, and new data wakes epoll again.
                if self.clients[index].as_ref().is_some_and(|client| {
                    client.stage == Stage::Waiting && client.received.is_empty()
                }) {
                    return Ok(());
                }
            }
            let Some(client) = &self.clients[index] else {
                return Ok(());
            };
            if client.received.len() > MAX_LINE {
                return Err("a line longer than any reply".to_string());
            }
        }
    }

    fn welcomed(&mut self, index: usize) -> Result<(), String> {
        let protocol = self.protocol;
        let Some(client) = &mut self.clients[index] else {
            return Ok(());
        };
        client.stage = Stage::Idle;
        if client.active {
            send_line(client, protocol)?;
        }
        Ok(())
    }

    fn replied(&mut self, index: usize, took: Duration) -> Result<(), String> {
        let protocol = self.protocol;
        self.outcome.completed += 1;
        let micros = took.as_micros().min(u32::MAX as u128) as u32;
        self.outcome.times.push(micros);
        if self.short {
            // A short session is done: hang up.
            self.close(index);
            return Ok(());
        }
        let Some(client) = &mut self.clients[index] else {
            return Ok(());
        };
        client.stage = Stage::Idle;
        if client.active {
            send_line(client, protocol)?;
        }
        Ok(())
    }

    fn close(&mut self, index: usize) {
        if self.clients[index]
            .as_ref()
            .is_some_and(|client| !client.heard)
        {
            self.unheard -= 1;
        }
        // Closing the socket removes it from the epoll set.
        self.clients[index] = None;
        self.free.push(index);
    }

    fn fail(&mut self, index: usize, why: String) {
        if self.clients[index].is_some() {
            self.close(index);
            self.count_failure(why);
        }
    }

    fn fail_all(&mut self, why: String) {
        for index in 0..self.clients.len() {
            self.fail(index, why.clone());
        }
    }

    fn count_failure(&mut self, why: String) {
        self.outcome.failed += 1;
        self.outcome.first_failure.get_or_insert(why);
    }
}

/// Handles one line the client heard.
fn hear(
    client: &mut Client,
    protocol: Protocol,
    line: &[u8],
    short: bool,
) -> Result<Heard, String> {
    match client.stage {
        Stage::Welcome(left) => {
            if left == protocol.welcome_lines() && !protocol.welcomes(line) {
                return Err(format!("turned away: {}", shown(line)));
            }
            client.stage = Stage::Welcome(left - 1);
            Ok(if left == 1 {
                Heard::Welcomed
            } else {
                Heard::Nothing
            })
        }
        Stage::Waiting if line == client.expected => {
            let since = if short {
                client.started
            } else {
                client.sent_at
            };
            let took = since.elapsed();
            Ok(Heard::Reply(took))
        }
        Stage::Waiting => Err(format!(
            "expected {} but got {}",
            shown(&client.expected),
            shown(line)
        )),
        _ => Err(format!("an unexpected line: {}", shown(line))),
    }
}

/// Sends the client's next line. It is short and the last one was
/// answered, so the send buffer takes it whole.
fn send_line(client: &mut Client, protocol: Protocol) -> Result<(), String> {
    let line = format!("client {} line {}\n", client.number, client.lines_sent);
    match client.stream.write(line.as_bytes()) {
        Ok(written) if written == line.len() => {}
        Ok(_) => return Err("the send buffer was full".to_string()),
        Err(err) => return Err(format!("could not write: {err}")),
    }
    client.expected = protocol.reply_to(line.as_bytes());
    client.lines_sent += 1;
    client.sent_at = Instant::now();
    client.stage = Stage::Waiting;
    Ok(())
}

/// A line as the table shows it: at most 60 characters, escaped.
fn shown(line: &[u8]) -> String {
    let text: String = line
        .trim_ascii_end()
        .escape_ascii()
        .to_string()
        .chars()
        .take(60)
        .collect();
    format!("{text:?}")
}

/// Starts a connection without waiting for it: connect() on a non-blocking
/// socket returns EINPROGRESS, and epoll says when it is done.
fn connect_nonblocking(addr: SocketAddr) -> nix::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd: OwnedFd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let target = SockaddrStorage::from(addr);
    match connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &target) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(err) => Err(err),
    }
}

/// A number with thousands separators: 12,345.
pub fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}
