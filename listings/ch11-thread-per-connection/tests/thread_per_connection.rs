//! Listing 11-1 behaves as chapter 11 says: it speaks Listing 5-1's
//! protocol, one thread per client; it turns a client away, with a reason,
//! when MAX_CLIENTS are served or when the kernel will not give it a
//! thread; it lets a silent client go; and a thread's end gives its place
//! back.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use testkit::select_server::{
    self, FULL, TOO_LONG, WELCOME, round_trip, welcomed,
};
use testkit::{
    Client, Process, Server, Transcript, conventions, kernel, limits, procfs,
    timeout, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch11-thread-per-connection");
const IDLE: &str = "Sorry, you have been idle too long. Goodbye.\n";

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
    drop(second);
    log_next(&mut server);
    Transcript::new("transcripts/session.console")
        .command("cargo run -p ch11-thread-per-connection")
        .output(&log)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn each_client_has_a_thread_of_its_own_while_it_is_connected() {
    let mut server = Server::start(SERVER);
    let pid = server.pid();
    // The main thread and the log's writer thread, before any client.
    let before = kernel::threads(pid);
    let mut clients: Vec<Client> = (0..5).map(|_| welcomed(&server)).collect();
    for _ in 0..5 {
        server.next_line();
    }
    assert_eq!(kernel::threads(pid), before + 5);
    for client in &mut clients {
        round_trip(client, "served by my own thread");
    }
    drop(clients);
    for _ in 0..5 {
        assert!(server.next_line().ends_with(" disconnected"));
    }
    assert!(
        wait_until(timeout(), || kernel::threads(pid) == before),
        "{} threads after every client left, {before} before",
        kernel::threads(pid)
    );
}

#[test]
fn answers_every_line_and_replaces_the_line_ending() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    round_trip(&mut client, "hello");
    round_trip(&mut client, "");
    client.send(b"from telnet\r\n");
    assert_eq!(client.read_line(), "OK ... from telnet\n");
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
fn a_half_closed_client_gets_all_its_replies_before_the_server_closes() {
    let mut server = Server::start(SERVER);
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
fn a_line_too_long_is_told_why_after_the_replies_owed() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        SERVER,
    );
    // 1023 bytes and the newline are still a line.
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    round_trip(&mut client, &"y".repeat(1023));
    client.send(&[b'z'; 1024]);
    assert_eq!(client.read_line(), TOO_LONG);
    client.expect_closed();
}

#[test]
fn the_client_after_max_clients_is_told_the_server_is_full() {
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "3"], &[]);
    let mut log = format!("listening on {}\n", server.addr());
    let mut log_next = |server: &mut Server| {
        let line = server.next_line();
        log.push_str(&line);
        log.push('\n');
        line
    };
    let mut clients: Vec<Client> = Vec::new();
    for number in 1..=3 {
        let client = welcomed(&server);
        assert_eq!(
            log_next(&mut server),
            format!("{} connected ({number} of 3)", client.local_addr())
        );
        clients.push(client);
    }
    let mut fourth = server.connect();
    assert_eq!(fourth.read_line(), FULL);
    fourth.expect_closed();
    assert_eq!(
        log_next(&mut server),
        format!(
            "{} refused: 3 clients are served already",
            fourth.local_addr()
        )
    );
    // One leaves: once the log says so, its place is free for the next.
    drop(clients.remove(1));
    assert!(log_next(&mut server).ends_with(" disconnected"));
    let mut newcomer = welcomed(&server);
    assert!(log_next(&mut server).ends_with(" connected (3 of 3)"));
    round_trip(&mut newcomer, "in the freed place");
    for client in &mut clients {
        round_trip(client, "still here");
    }
    Transcript::new("transcripts/full.console")
        .command("cargo run -p ch11-thread-per-connection -- 127.0.0.1:5000 3")
        .output(&log)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn a_silent_client_is_let_go_after_the_idle_time_and_a_talking_one_is_not() {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "10", "1"], &[]);
    let mut silent = welcomed(&server);
    let silent_addr = silent.local_addr();
    server.next_line();
    let mut talking = welcomed(&server);
    server.next_line();
    let started = Instant::now();
    // A line every 200 ms keeps a client: the idle time is per read.
    while started.elapsed() < Duration::from_millis(1500) {
        round_trip(&mut talking, "still talking");
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(silent.read_line(), IDLE);
    silent.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("{silent_addr} let go: idle for 1 s")
    );
    round_trip(&mut talking, "not let go");
}

#[test]
fn a_client_that_never_reads_is_dropped_and_costs_only_its_own_thread() {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "10", "2"], &[]);
    let mut polite = welcomed(&server);
    server.next_line();
    // The hog sends lines and never reads the replies: its thread soon
    // blocks in write(), and then so does the hog. The polite client's
    // thread goes on.
    let mut hog = TcpStream::connect(server.addr()).expect("the hog connects");
    hog.set_write_timeout(Some(timeout()))
        .expect("write timeout");
    let hog_addr = hog.local_addr().expect("local_addr");
    server.next_line();
    let hogging = thread::spawn(move || {
        let batch = "a line whose answer is never read\n".repeat(300);
        loop {
            if let Err(err) = hog.write_all(batch.as_bytes()) {
                return err;
            }
        }
    });
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while !hogging.is_finished() {
        assert!(started.elapsed() < timeout(), "the hog was never dropped");
        let asked = Instant::now();
        round_trip(&mut polite, "served while the hog waits");
        slowest = slowest.max(asked.elapsed());
        thread::sleep(Duration::from_millis(50));
    }
    let dropped = hogging.join().expect("the hog's writer");
    assert!(
        matches!(
            dropped.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{dropped}"
    );
    assert_eq!(
        server.next_line(),
        format!("{hog_addr} dropped: took none of its replies for 2 s")
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a reply took {slowest:?}"
    );
    round_trip(&mut polite, "after the hog");
}

#[test]
fn when_no_thread_can_be_started_the_client_is_told_and_the_server_goes_on() {
    let Some((mut command, uid)) =
        limits::command_bound_by_process_limit(SERVER)
    else {
        return;
    };
    command.args(["127.0.0.1:0", "10"]);
    let mut server = Server::from_process(Process::spawn(command));
    let mut first = welcomed(&server);
    server.next_line();
    // RLIMIT_NPROC counts the user's tasks, and a thread is a task: with a
    // limit of 1, clone() fails with EAGAIN for every new thread.
    let pid = server.pid();
    let (soft, _) = process_limit(pid);
    limits::set_process_limit(pid, uid, 1);
    let mut refused = server.connect();
    assert_eq!(refused.read_line(), FULL);
    refused.expect_closed();
    assert_eq!(
        server.next_line(),
        format!(
            "{} refused: could not start a thread: Resource temporarily \
             unavailable (os error 11)",
            refused.local_addr()
        )
    );
    round_trip(&mut first, "its thread was started before");
    // The refused client's place was given back: with threads again, the
    // next client is served.
    limits::set_process_limit(pid, uid, soft);
    let mut next = welcomed(&server);
    assert!(server.next_line().ends_with(" connected (2 of 10)"));
    round_trip(&mut next, "a thread again");
    assert!(!server.process().has_exited());
}

/// The soft and hard RLIMIT_NPROC of process `pid`, from /proc.
fn process_limit(pid: u32) -> (u64, u64) {
    let limits =
        std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max processes"))
        .expect("a line for RLIMIT_NPROC");
    let number = |field: Option<&str>| match field {
        Some("unlimited") | None => u64::MAX,
        Some(text) => text.parse().expect("a number"),
    };
    let mut fields = line.split_whitespace().skip(2);
    (number(fields.next()), number(fields.next()))
}

#[test]
fn idle_clients_cost_no_cpu() {
    let server = Server::start(SERVER);
    let _clients: Vec<Client> = (0..20).map(|_| welcomed(&server)).collect();
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(50),
        "20 idle clients cost {used:?} of CPU in one second"
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
        "usage: ch11-thread-per-connection [ADDR [MAX_CLIENTS \
         [MAX_IDLE_SECS]]]",
    );
}

#[test]
fn limits_it_cannot_serve_are_refused_before_listening() {
    select_server::assert_limits_it_cannot_serve_are_refused_before_listening(
        SERVER,
    );
    let run = Process::run(SERVER, ["127.0.0.1:0", "1000001"], b"");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "MAX_CLIENTS must be a number of clients, 1 to 1000000, not \
         \"1000001\"\n"
    );
}

#[test]
fn a_bad_address_is_reported_in_one_line() {
    let run = Process::run(SERVER, ["nowhere"], b"");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("could not bind nowhere: "),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn the_welcome_is_listing_5_1s() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    assert_eq!(client.read_line(), WELCOME[0]);
    assert_eq!(client.read_line(), WELCOME[1]);
}

#[test]
fn out_of_descriptors_the_acceptor_pauses_and_then_serves() {
    let mut server = Server::start(SERVER);
    testkit::survival::assert_out_of_descriptors_it_pauses(
        &mut server,
        &select_server::Visit,
        "could not accept a connection: Too many open files (os error 24)",
    );
}

#[test]
fn the_eleventh_of_ten_silent_clients_is_refused_until_one_is_let_go() {
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "10", "1"], &[]);
    let clients: Vec<Client> = (0..10).map(|_| welcomed(&server)).collect();
    let started = Instant::now();
    let mut early = server.connect();
    if started.elapsed() < Duration::from_millis(500) {
        assert_eq!(early.read_line(), FULL);
    }
    // Each silent client is let go a second after its welcome, and its
    // place is free again.
    for mut client in clients {
        assert_eq!(client.read_line(), IDLE);
        client.expect_closed();
    }
    let mut eleventh = welcomed(&server);
    round_trip(&mut eleventh, "served");
}
