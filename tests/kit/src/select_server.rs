//! Listing 5-1, the `select()` server of chapter 5, as its clients see it:
//! a welcome of two lines, `OK ... <line>` for every line, room made for a
//! new client when silent ones fill the server, a line too long turned away
//! with a reason. The servers of chapter 5's exercises are built on it and
//! must keep doing all of it: the checks here run on any of them, and the
//! listing's own tests use the same client.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::survival::Conversation;
use crate::{Client, Process, Server, limits, procfs};

/// The welcome, line by line.
pub const WELCOME: [&str; 2] = [
    "Welcome to php socket server version 1.0 \n",
    "Enter a message and press enter, and i shall reply back \n",
];
/// What a client hears when every slot is taken.
pub const FULL: &str = "Sorry, the server is full. Try again later.\n";
/// What the client idle the longest hears when it must make room.
pub const IDLE: &str =
    "Sorry, the server is full and you have been idle too long. Goodbye.\n";
/// What a client hears whose line is longer than the server takes.
pub const TOO_LONG: &str =
    "Sorry, a line may be at most 1024 bytes. Goodbye.\n";

/// Connects a client and reads the two-line welcome.
#[track_caller]
pub fn welcomed(server: &Server) -> Client {
    let mut client = server.connect();
    hear_welcome(&mut client);
    client
}

/// Reads the two-line welcome on a connected client.
#[track_caller]
pub fn hear_welcome(client: &mut Client) {
    assert_eq!(client.read_line(), WELCOME[0]);
    assert_eq!(client.read_line(), WELCOME[1]);
}

/// Sends `line` and checks the reply.
#[track_caller]
pub fn round_trip(client: &mut Client, line: &str) {
    client.send_line(line);
    assert_eq!(client.read_line(), format!("OK ... {line}\n"));
}

/// One client's visit, for the [`survival`](crate::survival) checks: the
/// welcome, one line answered, and the end.
pub struct Visit;

impl Conversation for Visit {
    /// The server logs the client's slot when it comes and when it goes.
    fn hear(&self, client: &mut Client) -> usize {
        hear_welcome(client);
        round_trip(client, "one line");
        let peer = client.local_addr();
        format!("slot 0: {peer} connected\n").len()
            + format!("slot 0: {peer} disconnected\n").len()
    }
}

/// Ten clients that say nothing fill a server started with ten slots and a
/// limit of one idle second: an eleventh is told the server is full; a
/// second after its welcome the first client has been idle too long, and
/// the next one to connect makes it go, with a reason, and takes its slot.
#[track_caller]
pub fn assert_silent_clients_make_room_once_idle_too_long(program: &str) {
    let server = Server::start_with(program, ["127.0.0.1:0", "10", "1"], &[]);
    let mut clients: Vec<Client> = Vec::new();
    let mut welcomed_at = Vec::new();
    let started = Instant::now();
    for _ in 0..10 {
        clients.push(welcomed(&server));
        welcomed_at.push(Instant::now());
    }
    // Too soon: nobody has been idle for a second. (A machine so busy that
    // it took half of it to get here skips this.)
    if started.elapsed() < Duration::from_millis(500) {
        let mut early = server.connect();
        assert_eq!(early.read_line(), FULL);
    }
    // The server counts idleness from when it has sent the welcome, a
    // moment after the client may have read it, but before it takes the
    // next client: a second after the second client's welcome, the first
    // client has been idle longer than that, by the server's clock too.
    let idle = welcomed_at[1] + Duration::from_secs(1);
    thread::sleep(idle.saturating_duration_since(Instant::now()));
    let mut eleventh = server.connect();
    assert_eq!(clients[0].read_line(), IDLE);
    clients[0].expect_closed();
    hear_welcome(&mut eleventh);
    round_trip(&mut eleventh, "served");
}

/// A client whose line is longer than 1024 bytes gets the replies it was
/// owed for the lines before, then the reason it must go, and is let go.
#[track_caller]
pub fn assert_a_line_too_long_is_told_why_after_the_replies_owed(
    program: &str,
) {
    let server = Server::start(program);
    let mut client = welcomed(&server);
    let mut bytes = b"first\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 2000]);
    client.send(&bytes);
    assert_eq!(client.read_line(), "OK ... first\n");
    assert_eq!(client.read_line(), TOO_LONG);
    client.expect_closed();
}

/// Started with a number of clients it cannot serve (too large to hold,
/// zero, not a number) or an idle limit of 0 seconds, the server says so
/// and exits with status 2 before it listens.
#[track_caller]
pub fn assert_limits_it_cannot_serve_are_refused_before_listening(
    program: &str,
) {
    // A number too large to hold panicked after `listening on`.
    for count in ["18446744073709551615", "0", "ten"] {
        let run = Process::run(program, ["127.0.0.1:0", count], b"");
        assert_eq!(run.code(), 2, "{count}: {run:?}");
        assert_eq!(run.stdout, "", "{count}");
        assert!(
            run.stderr
                .starts_with("MAX_CLIENTS must be a number of clients"),
            "{count}: {}",
            run.stderr
        );
    }
    let run = Process::run(program, ["127.0.0.1:0", "10", "0"], b"");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "MAX_IDLE_SECS must be a number of seconds, 1 or more, not \"0\"\n"
    );
}

/// The server runs with descriptors for a few clients only (a limit of 16)
/// and 100 slots; it is filled, and one more client waits in the queue,
/// for whom accept() fails with `EMFILE`. While a client keeps the server
/// busy for a second, a line after a line, the server tries accept() again
/// a few times only (10 at most), not after every line.
#[track_caller]
pub fn assert_out_of_descriptors_a_busy_server_tries_again_rarely(
    program: &str,
) {
    const LIMIT: u64 = 16;
    let mut command = Command::new(program);
    command.args(["127.0.0.1:0", "100"]);
    limits::limit_descriptors(&mut command, LIMIT);
    let mut server = Server::from_process(Process::spawn(command));
    let room = LIMIT as usize - procfs::descriptors_below(server.pid(), LIMIT);
    let mut clients: Vec<Client> =
        (0..room).map(|_| welcomed(&server)).collect();
    let _waiting = server.connect();
    let failed = "could not accept a connection: Too many open files";
    server.process().wait_for_stderr(failed);
    let before = server.process().stderr().matches(failed).count();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        round_trip(&mut clients[0], "busy");
    }
    let failures = server.process().stderr().matches(failed).count() - before;
    assert!(failures <= 10, "{failures} failed accepts in a second");
}
