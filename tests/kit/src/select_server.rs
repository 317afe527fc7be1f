//! Listing 5-1, the `select()` server of chapter 5, as its clients see it:
//! a welcome of two lines, `OK ... <line>` for every line, room made for a
//! new client when silent ones fill the server, a line too long turned away
//! with a reason. The servers of chapter 5's exercises are built on it and
//! must keep doing all of it, and chapter 12's poll and epoll servers speak
//! its protocol: the checks here run on any of them, and the listing's own
//! tests use the same client.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::survival::Conversation;
use crate::{Client, Process, Server, limits, procfs, spawn_helper};

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
    let mut command = Command::new(program);
    command.args(["127.0.0.1:0", "100"]);
    limits::limit_descriptors(&mut command, LIMIT);
    let server = Server::from_process(Process::spawn(command));
    busy_out_of_descriptors_tries_again_rarely(server);
}

/// The same check, for a server that raises its own descriptor limit as it
/// starts (chapter 12's servers raise the soft limit to the hard one): a
/// limit set before it runs would be gone by the time it accepts, so the
/// test lowers it once the server listens (with prlimit(2)).
#[track_caller]
pub fn assert_out_of_descriptors_a_busy_server_that_raised_its_limit_tries_again_rarely(
    program: &str,
) {
    let server = Server::start_with(program, ["127.0.0.1:0", "100"], &[]);
    limits::set_descriptor_limit(server.pid(), LIMIT);
    busy_out_of_descriptors_tries_again_rarely(server);
}

/// The descriptor limit of the out-of-descriptors checks.
const LIMIT: u64 = 16;

#[track_caller]
fn busy_out_of_descriptors_tries_again_rarely(mut server: Server) {
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

// The checks below hold for every server that speaks Listing 5-1's protocol
// and keeps its log (chapter 12's poll and epoll servers run them all).
// Listing 5-1's own tests make the same checks, written out in its tests.

/// Every complete line is answered once, in order: half a line waits for
/// the rest, two lines in one write get two replies, telnet's `\r\n` is
/// replaced by `\n`, and bytes that are not UTF-8 come back as they were.
#[track_caller]
pub fn assert_every_line_is_answered_whole(program: &str) {
    let server = Server::start(program);
    let mut client = welcomed(&server);
    round_trip(&mut client, "hello");
    round_trip(&mut client, "");
    client.send(b"hel");
    assert!(client.is_silent_for(Duration::from_millis(100)));
    client.send(b"lo\nsecond\nthi");
    assert_eq!(client.read_line(), "OK ... hello\n");
    assert_eq!(client.read_line(), "OK ... second\n");
    client.send(b"rd\nfrom telnet\r\n");
    assert_eq!(client.read_line(), "OK ... third\n");
    assert_eq!(client.read_line(), "OK ... from telnet\n");
    client.send(b"\xff\xfe\n");
    assert_eq!(client.read_exact(10), b"OK ... \xff\xfe\n");
}

/// `clients` clients, each in a thread of its own, send 200 lines each in
/// pieces that cut lines at odd places, while reading the replies: each gets
/// exactly the replies to its own lines, in order, and nothing else.
#[track_caller]
pub fn assert_concurrent_clients_each_get_their_own_replies(
    program: &str,
    clients: usize,
) {
    use std::io::Read;
    let server =
        Server::start_with(program, ["127.0.0.1:0", &clients.to_string()], &[]);
    let connected: Vec<Client> =
        (0..clients).map(|_| welcomed(&server)).collect();
    let workers: Vec<_> = connected
        .into_iter()
        .enumerate()
        .map(|(number, mut client)| {
            spawn_helper(move || {
                let lines: Vec<String> = (0..200)
                    .map(|line| format!("client {number} line {line}"))
                    .collect();
                let text: Vec<u8> = lines
                    .iter()
                    .flat_map(|l| format!("{l}\n").into_bytes())
                    .collect();
                let expected: Vec<u8> = lines
                    .iter()
                    .flat_map(|l| format!("OK ... {l}\n").into_bytes())
                    .collect();
                let mut reader =
                    client.stream().try_clone().expect("clone the stream");
                let collector = spawn_helper(move || {
                    let mut replies = vec![0u8; expected.len()];
                    reader.read_exact(&mut replies).expect("every reply");
                    assert_eq!(
                        String::from_utf8_lossy(&replies),
                        String::from_utf8_lossy(&expected)
                    );
                });
                for piece in text.chunks(7 + number % 13) {
                    client.send(piece);
                }
                collector.joined("reading the replies");
                assert!(client.is_silent_for(Duration::from_millis(50)));
            })
        })
        .collect();
    for (number, worker) in workers.into_iter().enumerate() {
        worker.joined(&format!("client {number}"));
    }
}

/// A client that resets its connection is dropped, with the reason logged;
/// one that half-closes gets every reply it is owed, its last unfinished
/// line's too, before the server closes; the others are served throughout,
/// and a freed slot is taken by the next client.
#[track_caller]
pub fn assert_clients_that_leave_do_not_disturb_the_others(program: &str) {
    let mut server = Server::start(program);
    let mut stays = welcomed(&server);
    server.next_line();
    let leaves = welcomed(&server);
    let leaves_addr = leaves.local_addr();
    server.next_line();
    leaves.reset();
    assert_eq!(
        server.next_line(),
        format!(
            "slot 1: {leaves_addr} dropped: could not read: Connection \
             reset by peer (os error 104)"
        )
    );
    round_trip(&mut stays, "still served");

    let mut half = welcomed(&server);
    assert_eq!(
        server.next_line(),
        format!("slot 1: {} connected", half.local_addr())
    );
    half.send(b"one\ntwo");
    half.shutdown_write();
    assert_eq!(half.read_line(), "OK ... one\n");
    assert_eq!(half.read_line(), "OK ... two\n");
    half.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("slot 1: {} disconnected", half.local_addr())
    );
    round_trip(&mut stays, "undisturbed");
}

/// With every slot taken (ten), the next client is told the server is full
/// and the connection closed; the full server sleeps (under 100 ms of CPU
/// in a second); and when a client leaves, its slot goes to the next.
#[track_caller]
pub fn assert_a_full_server_turns_clients_away_and_sleeps(program: &str) {
    let mut server = Server::start(program);
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..10 {
        clients.push(welcomed(&server));
        server.next_line();
    }
    for _ in 0..3 {
        let mut refused = server.connect();
        assert_eq!(refused.read_line(), FULL);
        refused.expect_closed();
        assert_eq!(
            server.next_line(),
            format!("{} refused: all 10 slots are taken", refused.local_addr())
        );
    }
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(100),
        "a full server used {used:?}"
    );
    let leaving = clients.remove(3);
    let leaving_addr = leaving.local_addr();
    drop(leaving);
    assert_eq!(
        server.next_line(),
        format!("slot 3: {leaving_addr} disconnected")
    );
    let mut newcomer = welcomed(&server);
    assert_eq!(
        server.next_line(),
        format!("slot 3: {} connected", newcomer.local_addr())
    );
    round_trip(&mut newcomer, "in slot 3");
    for client in &mut clients {
        round_trip(client, "still here");
    }
}

/// A client with a small receive buffer sends lines and never reads the
/// replies: the server keeps answering another client promptly (every
/// reply under 500 ms), and drops the hog once more than its bound of
/// replies waits for it, saying so.
#[track_caller]
pub fn assert_a_client_that_never_reads_is_dropped_and_delays_nobody(
    program: &str,
) {
    use socket2::{Domain, Socket, Type};
    use std::io::{ErrorKind, Write};
    use std::net::TcpStream;

    let mut server = Server::start(program);
    let mut polite = welcomed(&server);
    server.next_line();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), crate::timeout())
        .expect("connect");
    let mut hog = TcpStream::from(socket);
    hog.set_write_timeout(Some(crate::timeout()))
        .expect("write timeout");
    let hog_addr = hog.local_addr().expect("local_addr");
    server.next_line();
    let batch =
        "a line the hog sends and will never read the answer to\n".repeat(300);
    let mut slowest = Duration::ZERO;
    let mut rounds = 0;
    let dropped = loop {
        rounds += 1;
        assert!(rounds < 5_000, "the hog was never dropped");
        if let Err(err) = hog.write_all(batch.as_bytes()) {
            break err;
        }
        let started = Instant::now();
        round_trip(&mut polite, &format!("round {rounds}"));
        slowest = slowest.max(started.elapsed());
    };
    assert!(
        matches!(
            dropped.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{dropped}"
    );
    let line = server.next_line();
    assert!(
        line.starts_with(&format!("slot 1: {hog_addr} dropped: "))
            && line.ends_with(" bytes of replies unread"),
        "{line}"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "with a hog connected, a reply took {slowest:?}"
    );
    round_trip(&mut polite, "after the hog");
}
