//! Listing 5-1 behaves as chapter 5 says: one thread serves many clients at
//! once, frames their input by lines, tells the eleventh that it is full, and
//! neither spins nor stalls whatever its clients do.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use testkit::select_server::{
    FULL, IDLE, TOO_LONG, WELCOME, round_trip, welcomed,
};
use testkit::{
    Client, Process, Server, Transcript, conventions, limits, procfs, timeout,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-select-server");
const MAX_CLIENTS: usize = 10;

#[test]
fn session_matches_the_book() {
    let mut server = Server::start(SERVER);
    let mut log = format!("listening on {}\n", server.addr());
    let mut log_next = |server: &mut Server| {
        log.push_str(&server.next_line());
        log.push('\n');
    };

    let mut first = welcomed(&server);
    log_next(&mut server);
    let mut second = welcomed(&server);
    log_next(&mut server);
    round_trip(&mut first, "hello from the first");
    round_trip(&mut second, "hello from the second");
    round_trip(&mut first, "still here");
    drop(first);
    log_next(&mut server);
    drop(second);
    log_next(&mut server);

    Transcript::new("transcripts/session.console")
        .command("cargo run -p ch05-select-server")
        .output(&log)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn welcomes_each_client_and_logs_it_in_a_slot() {
    let mut server = Server::start(SERVER);
    // The clients stay connected, so each takes the next slot.
    let mut clients = Vec::new();
    for slot in 0..3 {
        let client = welcomed(&server);
        assert_eq!(
            server.next_line(),
            format!("slot {slot}: {} connected", client.local_addr())
        );
        clients.push(client);
    }
}

#[test]
fn answers_every_line_and_replaces_the_line_ending() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    round_trip(&mut client, "hello");
    round_trip(&mut client, "");
    // telnet ends its lines with \r\n; the reply ends with \n alone.
    client.send(b"from telnet\r\n");
    assert_eq!(client.read_line(), "OK ... from telnet\n");
    // Bytes that are not UTF-8 come back as they were sent.
    client.send(b"\xff\xfe\n");
    assert_eq!(client.read_exact(10), b"OK ... \xff\xfe\n");
}

#[test]
fn a_line_split_across_writes_gets_one_reply_and_two_lines_in_one_write_get_two()
 {
    // The original answered each read(), whatever it held.
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    client.send(b"hel");
    // Nothing is answered until the line is complete.
    assert!(client.is_silent_for(Duration::from_millis(100)));
    client.send(b"lo\nsecond\nthi");
    assert_eq!(client.read_line(), "OK ... hello\n");
    assert_eq!(client.read_line(), "OK ... second\n");
    client.send(b"rd\n");
    assert_eq!(client.read_line(), "OK ... third\n");
}

#[test]
fn concurrent_clients_with_interleaved_lines_each_get_exactly_their_own_replies_in_order()
 {
    let server = Server::start(SERVER);
    let clients: Vec<Client> =
        (0..MAX_CLIENTS).map(|_| welcomed(&server)).collect();
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(number, mut client)| {
            thread::spawn(move || {
                // 200 lines, written in pieces that cut lines in odd places,
                // while the replies are read on the same connection.
                let lines: Vec<String> = (0..200)
                    .map(|line| format!("client {number} line {line}"))
                    .collect();
                let text: Vec<u8> = lines
                    .iter()
                    .flat_map(|l| format!("{l}\n").into_bytes())
                    .collect();
                let mut reader =
                    client.stream().try_clone().expect("clone the stream");
                let expected: Vec<u8> = lines
                    .iter()
                    .flat_map(|l| format!("OK ... {l}\n").into_bytes())
                    .collect();
                let collector = thread::spawn(move || {
                    let mut replies = vec![0u8; expected.len()];
                    reader.read_exact(&mut replies).expect("every reply");
                    assert_eq!(
                        String::from_utf8_lossy(&replies),
                        String::from_utf8_lossy(&expected)
                    );
                });
                for piece in text.chunks(7 + number) {
                    client.send(piece);
                }
                collector.join().expect("replies in order");
                // Nothing more than the replies to this client's own lines.
                assert!(client.is_silent_for(Duration::from_millis(50)));
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a client got the wrong replies");
    }
}

#[test]
fn a_client_that_resets_its_connection_does_not_disturb_the_others() {
    let mut server = Server::start(SERVER);
    let mut stays = welcomed(&server);
    server.next_line();
    let leaves = welcomed(&server);
    let leaves_addr = leaves.local_addr();
    server.next_line();

    leaves.reset();
    assert_eq!(
        server.next_line(),
        format!(
            "slot 1: {leaves_addr} dropped: could not read: Connection reset by peer (os error 104)"
        )
    );
    round_trip(&mut stays, "still served");
    // The slot is free again.
    let newcomer = welcomed(&server);
    assert_eq!(
        server.next_line(),
        format!("slot 1: {} connected", newcomer.local_addr())
    );
}

#[test]
fn a_half_closed_client_gets_all_its_replies_before_the_server_closes() {
    let mut server = Server::start(SERVER);
    let mut other = welcomed(&server);
    server.next_line();
    let mut client = welcomed(&server);
    server.next_line();

    // Two lines, the last without a newline, then "I am done sending".
    client.send(b"one\ntwo");
    client.shutdown_write();
    assert_eq!(client.read_line(), "OK ... one\n");
    assert_eq!(client.read_line(), "OK ... two\n");
    client.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("slot 1: {} disconnected", client.local_addr())
    );
    round_trip(&mut other, "undisturbed");
}

#[test]
fn the_eleventh_client_is_told_the_server_is_full_and_a_freed_slot_is_reused() {
    let mut server = Server::start(SERVER);
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..MAX_CLIENTS {
        clients.push(welcomed(&server));
        server.next_line();
    }

    let mut eleventh = server.connect();
    assert_eq!(eleventh.read_line(), FULL);
    eleventh.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("{} refused: all 10 slots are taken", eleventh.local_addr())
    );

    // Slot 3's client leaves; the next client gets slot 3 and is served.
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

#[test]
fn a_full_server_sleeps_instead_of_spinning() {
    let mut server = Server::start(SERVER);
    let _clients: Vec<Client> =
        (0..MAX_CLIENTS).map(|_| welcomed(&server)).collect();
    for _ in 0..3 {
        let mut refused = server.connect();
        assert_eq!(refused.read_line(), FULL);
    }
    // The original left the waiting connection in the queue: select()
    // returned at once, forever, and the loop used a whole core.
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(100),
        "a full server used {used:?} of CPU in one second"
    );
    assert!(!server.process().has_exited());
}

#[test]
fn a_client_that_never_reads_does_not_delay_the_others_and_is_dropped() {
    let mut server = Server::start(SERVER);
    let mut polite = welcomed(&server);
    server.next_line();

    // The hog's receive buffer is small, so the replies it never reads soon
    // fill it, then the server's send buffer for it, then the server's own
    // queue for it.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .expect("connect");
    let mut hog = TcpStream::from(socket);
    hog.set_write_timeout(Some(timeout()))
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
        // A server that blocked writing to the hog would stop reading from
        // it too, and this write would time out.
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

#[test]
fn a_line_longer_than_the_limit_is_told_why_after_the_replies_it_was_owed() {
    let mut server = Server::start(SERVER);
    let mut other = welcomed(&server);
    server.next_line();
    let mut client = welcomed(&server);
    let addr = client.local_addr();
    server.next_line();

    // Two lines, then 2,000 bytes and no newline, all in one write: the
    // server reads them together, and owes the first two their replies.
    let mut bytes = b"first\nsecond\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 2000]);
    client.send(&bytes);
    assert_eq!(
        server.next_line(),
        format!("{addr} is told to leave: line longer than 1024 bytes")
    );
    assert_eq!(client.read_line(), "OK ... first\n");
    assert_eq!(client.read_line(), "OK ... second\n");
    assert_eq!(client.read_line(), TOO_LONG);
    // Then the end of the stream, not a reset: the server read and
    // discarded the rest of the line instead of closing on it.
    client.expect_closed();
    drop(client);
    assert_eq!(server.next_line(), format!("slot 1: {addr} disconnected"));
    round_trip(&mut other, "unaffected");

    // 1023 bytes and the newline are still a line.
    let mut longest = welcomed(&server);
    let line = "y".repeat(1023);
    round_trip(&mut longest, &line);
}

/// Starts the server with ten slots and `max_idle_secs`, and fills them
/// with clients that say nothing. Returns the clients, when each was
/// welcomed, and when the first began to connect.
fn full_of_silent_clients(
    max_idle_secs: &str,
) -> (Server, Vec<Client>, Vec<Instant>, Instant) {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "10", max_idle_secs], &[]);
    let mut clients = Vec::new();
    let mut welcomed_at = Vec::new();
    let started = Instant::now();
    for _ in 0..MAX_CLIENTS {
        clients.push(welcomed(&server));
        welcomed_at.push(Instant::now());
        server.next_line();
    }
    (server, clients, welcomed_at, started)
}

/// Sleeps until `since + secs`. The server notes a client's last activity
/// just after writing its welcome, a moment after the client may have read
/// it; so pass the time the *next* client was welcomed, which the server
/// sends only after it has noted this one: by `since + secs` this one has
/// surely been idle that long.
fn wait_until_idle(since: Instant, secs: u64) {
    let idle = since + Duration::from_secs(secs);
    thread::sleep(idle.saturating_duration_since(Instant::now()));
}

#[test]
fn ten_silent_clients_make_room_for_an_eleventh_once_one_is_idle_too_long() {
    let (mut server, mut clients, welcomed_at, started) =
        full_of_silent_clients("1");
    // Too soon: the server is full, and nobody has been idle for a second.
    // (A machine so busy that it took half of it to get here skips this.)
    if started.elapsed() < Duration::from_millis(500) {
        let mut early = server.connect();
        assert_eq!(early.read_line(), FULL);
        server.next_line();
    }

    wait_until_idle(welcomed_at[1], 1);
    let mut eleventh = server.connect();
    // The first client, idle the longest, is told why it must go.
    let first = clients[0].local_addr();
    assert_eq!(clients[0].read_line(), IDLE);
    clients[0].expect_closed();
    assert_eq!(
        server.next_line(),
        format!(
            "slot 0: {first} dropped: idle for more than 1 s while the \
             server is full"
        )
    );
    // And the eleventh gets its slot, and is served.
    assert_eq!(eleventh.read_line(), WELCOME[0]);
    assert_eq!(eleventh.read_line(), WELCOME[1]);
    assert_eq!(
        server.next_line(),
        format!("slot 0: {} connected", eleventh.local_addr())
    );
    round_trip(&mut eleventh, "served");
    round_trip(&mut clients[9], "still here");
}

#[test]
fn the_client_idle_the_longest_is_the_one_let_go() {
    let (mut server, mut clients, welcomed_at, _) = full_of_silent_clients("1");
    wait_until_idle(welcomed_at[2], 1);
    // The first client speaks: now the second has been idle the longest.
    round_trip(&mut clients[0], "I am here");
    let mut eleventh = server.connect();
    assert_eq!(clients[1].read_line(), IDLE);
    assert!(server.next_line().starts_with("slot 1: "));
    assert_eq!(eleventh.read_line(), WELCOME[0]);
    round_trip(&mut clients[0], "still here");
}

/// Starts the server with descriptors for only a few clients, fills them,
/// and connects one more, which waits in the queue: accept() has failed for
/// it with EMFILE. Returns the server, its clients and the one waiting.
fn out_of_descriptors() -> (Server, Vec<Client>, Client) {
    // RLIMIT_NOFILE bounds the numbers of new descriptors: every one must be
    // below it. With a limit of 16, the descriptors below 16 that the server
    // does not use yet are the room it has for clients.
    const LIMIT: u64 = 16;
    let mut command = Command::new(SERVER);
    // Slots to spare: here descriptors run out first.
    command.args(["127.0.0.1:0", "100"]);
    // The server's own limit, not this test process's.
    limits::limit_descriptors(&mut command, LIMIT);
    let mut server = Server::from_process(Process::spawn(command));
    let in_use = procfs::descriptors_below(server.pid(), LIMIT);
    let room = LIMIT as usize - in_use;
    assert!(
        room >= 2,
        "the server already uses {in_use} descriptors below {LIMIT}"
    );
    let clients: Vec<Client> = (0..room).map(|_| welcomed(&server)).collect();
    let waiting = server.connect();
    server.process().wait_for_stderr(
        "could not accept a connection: Too many open files (os error 24)",
    );
    (server, clients, waiting)
}

/// How many times the server has said it could not accept.
fn accept_failures(server: &mut Server) -> usize {
    server
        .process()
        .stderr()
        .matches("could not accept")
        .count()
}

#[test]
fn out_of_descriptors_the_server_waits_for_a_free_one_instead_of_spinning() {
    let (server, mut clients, mut waiting) = out_of_descriptors();
    assert!(waiting.is_silent_for(Duration::from_millis(100)));
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(100),
        "out of descriptors, the server used {used:?} of CPU in one second"
    );

    // A client leaves, a descriptor is free: the waiting client is let in.
    drop(clients.remove(0));
    assert_eq!(waiting.read_line(), WELCOME[0]);
    assert_eq!(waiting.read_line(), WELCOME[1]);
    round_trip(&mut waiting, "let in");
    round_trip(&mut clients[0], "still served");
}

#[test]
fn out_of_descriptors_a_busy_server_tries_again_a_few_times_a_second() {
    // Every line a client sends wakes the server. Had each wakeup been a
    // new try at accept(), each would have failed and written a line of
    // log: thousands a second. The pause before the next try grows instead.
    let (mut server, mut clients, _waiting) = out_of_descriptors();
    let before = accept_failures(&mut server);
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(1) {
        round_trip(&mut clients[0], "busy");
        rounds += 1;
    }
    let failures = accept_failures(&mut server) - before;
    assert!(
        failures <= 10,
        "{failures} failed accepts in a second of {rounds} lines"
    );
}

#[test]
fn the_client_limit_can_be_raised_on_the_command_line() {
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "12"], &[]);
    let mut clients: Vec<Client> = (0..12).map(|_| welcomed(&server)).collect();
    let mut thirteenth = server.connect();
    assert_eq!(thirteenth.read_line(), FULL);
    round_trip(&mut clients[11], "twelfth");
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["--help"], &["127.0.0.1:0", "10", "30", "extra"]],
        "usage: ch05-select-server [ADDR [MAX_CLIENTS [MAX_IDLE_SECS]]]",
    );
}

#[test]
fn client_limits_select_cannot_serve_are_refused_before_listening() {
    // Descriptors 0 to 3 are stdin, stdout, stderr and the listener, and
    // select() watches no descriptor from FD_SETSIZE (1024) up: 1,020
    // clients at most. A larger number panicked after `listening on`.
    for count in ["18446744073709551615", "1021", "0", "ten", "1e9"] {
        let run = Process::run(SERVER, ["127.0.0.1:0", count], b"");
        assert_eq!(run.code(), 2, "{count}: {run:?}");
        assert_eq!(run.stdout, "", "{count}");
        assert_eq!(
            run.stderr,
            format!(
                "MAX_CLIENTS must be a number of clients, 1 to 1020, not \
                 \"{count}\"\n"
            )
        );
    }
    let run = Process::run(SERVER, ["127.0.0.1:0", "2000"], b"");
    Transcript::new("transcripts/too-many-clients.console")
        .command("cargo run -p ch05-select-server -- 127.0.0.1:5000 2000")
        .output(&run.stderr)
        .check();
    for secs in ["0", "soon", "-1"] {
        let run = Process::run(SERVER, ["127.0.0.1:0", "10", secs], b"");
        assert_eq!(run.code(), 2, "{secs}: {run:?}");
        assert_eq!(run.stdout, "", "{secs}");
        assert_eq!(
            run.stderr,
            format!(
                "MAX_IDLE_SECS must be a number of seconds, 1 or more, not \
                 \"{secs}\"\n"
            )
        );
    }
}
