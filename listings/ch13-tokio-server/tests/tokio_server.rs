//! Listing 13-1 speaks Listing 5-1's protocol, as chapter 13 says: the
//! welcome, a reply to every line, lines framed and bounded, the eleventh
//! client told the server is full, room made by clients idle too long,
//! and no stall whatever a client does.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use testkit::select_server::{self, FULL, IDLE, WELCOME, round_trip, welcomed};
use testkit::{Client, Server, Transcript, conventions, procfs, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch13-tokio-server");
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
    drop(first);
    log_next(&mut server);
    // Ctrl-C: the second client is told, and leaves.
    server.process().signal(nix::sys::signal::Signal::SIGINT);
    log_next(&mut server);
    assert_eq!(
        second.read_line(),
        "Sorry, the server is shutting down. Goodbye.\n"
    );
    second.expect_closed();
    drop(second);
    log_next(&mut server);
    log_next(&mut server);
    let mut process = server.into_process();
    assert!(process.wait_exit(timeout()).success());

    Transcript::new("transcripts/session.console")
        .command("cargo run -p ch13-tokio-server")
        .output(&log)
        .show_port(server_port(&log), 5000)
        .check();
}

/// The port the log's first line names.
fn server_port(log: &str) -> u16 {
    let first = log.lines().next().unwrap_or_default();
    first
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("listening on <addr>")
}

#[test]
fn logs_each_client_that_comes_and_goes() {
    let mut server = Server::start(SERVER);
    let client = welcomed(&server);
    let addr = client.local_addr();
    assert_eq!(server.next_line(), format!("{addr} connected"));
    drop(client);
    assert_eq!(server.next_line(), format!("{addr} disconnected"));
}

#[test]
fn answers_every_line_and_replaces_the_line_ending() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    round_trip(&mut client, "hello");
    round_trip(&mut client, "");
    client.send(b"from telnet\r\n");
    assert_eq!(client.read_line(), "OK ... from telnet\n");
    // Bytes that are not UTF-8 come back as they were sent.
    client.send(b"\xff\xfe\n");
    assert_eq!(client.read_exact(10), b"OK ... \xff\xfe\n");
}

#[test]
fn a_line_split_across_writes_gets_one_reply_and_two_lines_in_one_write_get_two()
 {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    client.send(b"hel");
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
            "{leaves_addr} dropped: could not read: Connection reset by \
             peer (os error 104)"
        )
    );
    round_trip(&mut stays, "still served");
}

#[test]
fn a_half_closed_client_gets_all_its_replies_before_the_server_closes() {
    let mut server = Server::start(SERVER);
    let mut other = welcomed(&server);
    server.next_line();
    let mut client = welcomed(&server);
    server.next_line();

    client.send(b"one\ntwo");
    client.shutdown_write();
    assert_eq!(client.read_line(), "OK ... one\n");
    assert_eq!(client.read_line(), "OK ... two\n");
    client.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("{} disconnected", client.local_addr())
    );
    round_trip(&mut other, "undisturbed");
}

#[test]
fn the_eleventh_client_is_told_the_server_is_full_and_a_freed_place_is_reused()
{
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
        format!("{} refused: all 10 places are taken", eleventh.local_addr())
    );

    let leaving = clients.remove(3);
    let leaving_addr = leaving.local_addr();
    drop(leaving);
    assert_eq!(server.next_line(), format!("{leaving_addr} disconnected"));
    let mut newcomer = welcomed(&server);
    round_trip(&mut newcomer, "in the freed place");
    for client in &mut clients {
        round_trip(client, "still here");
    }
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
fn a_full_server_sleeps_instead_of_spinning() {
    let mut server = Server::start(SERVER);
    let _clients: Vec<Client> =
        (0..MAX_CLIENTS).map(|_| welcomed(&server)).collect();
    for _ in 0..3 {
        let mut refused = server.connect();
        assert_eq!(refused.read_line(), FULL);
    }
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(100),
        "a full server used {used:?} of CPU in one second"
    );
    assert!(!server.process().has_exited());
}

/// How many times all the threads of `pid` together gave up the CPU to
/// wait: the runtime's workers are threads of their own, and
/// `/proc/<pid>/status` counts only the main one.
fn voluntary_switches_of_all_threads(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's threads");
    tasks
        .filter_map(|task| {
            let status =
                std::fs::read_to_string(task.ok()?.path().join("status"))
                    .ok()?;
            status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn with_every_client_idle_no_thread_of_the_server_wakes_up() {
    // No timer ticks for idle clients: idleness is measured when a
    // newcomer needs a place, not by a clock that wakes the server.
    let server = Server::start(SERVER);
    let mut clients: Vec<Client> = (0..5).map(|_| welcomed(&server)).collect();
    for client in &mut clients {
        round_trip(client, "then silence");
    }
    let pid = server.pid();
    let before = voluntary_switches_of_all_threads(pid);
    let used = procfs::cpu_used_during(pid, Duration::from_secs(1));
    let wakeups = voluntary_switches_of_all_threads(pid) - before;
    assert!(used < Duration::from_millis(20), "used {used:?} of CPU");
    // A thread that was just going back to sleep may count once.
    assert!(
        wakeups <= 3,
        "the server woke up {wakeups} times in a second"
    );
}

#[test]
fn ten_silent_clients_make_room_for_an_eleventh_once_one_is_idle_too_long() {
    select_server::assert_silent_clients_make_room_once_idle_too_long(SERVER);
}

#[test]
fn the_client_idle_the_longest_is_the_one_let_go() {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "10", "1"], &[]);
    let mut clients = Vec::new();
    let mut welcomed_at = Vec::new();
    for _ in 0..MAX_CLIENTS {
        clients.push(welcomed(&server));
        welcomed_at.push(Instant::now());
        server.next_line();
    }
    let idle = welcomed_at[2] + Duration::from_secs(1);
    thread::sleep(idle.saturating_duration_since(Instant::now()));
    // The first client speaks: now the second has been idle the longest.
    round_trip(&mut clients[0], "I am here");
    let mut eleventh = server.connect();
    assert_eq!(clients[1].read_line(), IDLE);
    clients[1].expect_closed();
    assert_eq!(
        server.next_line(),
        format!(
            "{} dropped: idle for more than 1 s while the server is full",
            clients[1].local_addr()
        )
    );
    assert_eq!(eleventh.read_line(), WELCOME[0]);
    assert_eq!(eleventh.read_line(), WELCOME[1]);
    round_trip(&mut eleventh, "served");
    round_trip(&mut clients[0], "still here");
}

#[test]
fn a_line_too_long_is_told_why_after_the_replies_owed() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        SERVER,
    );
}

#[test]
fn a_line_too_long_is_logged_and_the_longest_line_is_still_a_line() {
    let mut server = Server::start(SERVER);
    let mut client = welcomed(&server);
    let addr = client.local_addr();
    server.next_line();
    let mut bytes = b"first\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 2000]);
    client.send(&bytes);
    assert_eq!(
        server.next_line(),
        format!("{addr} is told to leave: line longer than 1024 bytes")
    );
    assert_eq!(client.read_line(), "OK ... first\n");
    assert_eq!(client.read_line(), select_server::TOO_LONG);
    // The end of the stream, not a reset: the rest of the line was read
    // and thrown away.
    client.expect_closed();
    drop(client);
    assert_eq!(server.next_line(), format!("{addr} disconnected"));

    // 1023 bytes and the newline are still a line.
    let mut longest = welcomed(&server);
    round_trip(&mut longest, &"y".repeat(1023));
}

#[test]
fn limits_it_cannot_serve_are_refused_before_listening() {
    select_server::assert_limits_it_cannot_serve_are_refused_before_listening(
        SERVER,
    );
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
        "usage: ch13-tokio-server [ADDR [MAX_CLIENTS [MAX_IDLE_SECS]]]",
    );
}

/// The server's resident memory, in KiB (`VmRSS` in `/proc/<pid>/status`).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the server's status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_client_that_never_reads_is_held_back_without_delaying_the_others() {
    let mut server = Server::start(SERVER);
    let mut polite = welcomed(&server);
    server.next_line();
    let before = resident_kib(server.pid());

    // The hog's receive buffer is small, and it never reads: the replies
    // fill it, then the server's send buffer for it. Then the hog's task
    // waits to write, reads no more, and the hog's own writes stop.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .expect("connect");
    let mut hog = TcpStream::from(socket);
    hog.set_read_timeout(Some(timeout())).expect("read timeout");
    let mut welcome = vec![0u8; WELCOME.concat().len()];
    hog.read_exact(&mut welcome).expect("the welcome");
    hog.set_write_timeout(Some(Duration::from_millis(500)))
        .expect("write timeout");
    server.next_line();

    let line = format!("{}\n", "h".repeat(999));
    let batch = line.repeat(16);
    let mut sent = 0usize;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < timeout(),
            "the server kept reading from a client that never reads"
        );
        // A short write means the hog's buffers are full: the server has
        // stopped reading from it.
        match hog.write(batch.as_bytes()) {
            Ok(written) if written == batch.len() => sent += written,
            Ok(written) => {
                sent += written;
                break;
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) => panic!("the hog was cut off: {err}"),
        }
        let round = Instant::now();
        round_trip(&mut polite, "are you there?");
        slowest = slowest.max(round.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(500),
        "with a hog connected, a reply took {slowest:?}"
    );
    // The megabytes the hog sent wait in the kernel's buffers, not in the
    // server: its memory hardly grew.
    let grown = resident_kib(server.pid()).saturating_sub(before);
    assert!(
        grown < 4 * 1024 && sent > 2 * grown as usize * 1024,
        "the hog sent {sent} bytes and the server grew by {grown} KiB"
    );
    round_trip(&mut polite, "after the hog");

    // Nothing was lost: once the hog reads, every line it sent is answered.
    let reply = format!("OK ... {}\n", "h".repeat(999));
    let mut received = vec![0u8; reply.len()];
    for number in 0..sent / line.len() {
        hog.read_exact(&mut received)
            .unwrap_or_else(|err| panic!("reply {number}: {err}"));
        assert!(received == reply.as_bytes(), "reply {number} is wrong");
    }
}

#[test]
fn what_clients_send_never_reaches_the_log() {
    let mut server = Server::start(SERVER);
    let mut client = welcomed(&server);
    client.send(b"\x1b[31mred\nforged line\n");
    assert_eq!(client.read_line(), "OK ... \x1b[31mred\n");
    assert_eq!(client.read_line(), "OK ... forged line\n");
    drop(client);
    server.process().wait_for_stdout(" disconnected\n");
    let log = server.process().stdout();
    assert!(!log.contains('\x1b') && !log.contains("forged"), "{log}");
}

#[test]
fn a_client_that_never_reads_gives_way_once_idle_too_long_while_full() {
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "2", "1"], &[]);
    let mut polite = welcomed(&server);
    server.next_line();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .expect("connect");
    let mut hog = TcpStream::from(socket);
    hog.set_nonblocking(true).expect("non-blocking");
    let hog_addr = hog.local_addr().expect("local_addr");
    server.next_line();
    // The hog sends until the server stops reading from it: its task
    // waits in a write, and the hog sends no line the server reads.
    let batch = format!("{}\n", "h".repeat(999)).repeat(16);
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < timeout(), "the hog was never held back");
        match hog.write(batch.as_bytes()) {
            Ok(written) if written == batch.len() => {}
            Ok(_) => break,
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) => panic!("the hog was cut off: {err}"),
        }
        round_trip(&mut polite, "paced");
    }
    // A second later the hog has been idle for more than a second; the
    // polite client has just spoken.
    thread::sleep(Duration::from_millis(1100));
    round_trip(&mut polite, "still here");
    let mut third = server.connect();
    assert_eq!(
        server.next_line(),
        format!(
            "{hog_addr} dropped: idle for more than 1 s while the server is \
             full"
        )
    );
    // The third is welcomed at once, not after the hog's goodbye, which
    // the hog will never read.
    third.set_read_timeout(Duration::from_millis(1000));
    assert_eq!(third.read_line(), WELCOME[0]);
    assert_eq!(third.read_line(), WELCOME[1]);
    round_trip(&mut third, "served");
    round_trip(&mut polite, "and me");
}
