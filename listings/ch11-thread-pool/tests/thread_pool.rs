//! Listing 11-2 behaves as chapter 11 says: a fixed number of threads,
//! started before it listens, serves Listing 5-1's protocol; connections
//! wait in a bounded queue for a free worker, and one that finds the queue
//! full is turned away at once; the workers' shared counts add up.

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::select_server::{
    self, FULL, TOO_LONG, Visit, WELCOME, hear_welcome, round_trip, welcomed,
};
use testkit::{
    Client, Process, Server, Transcript, conventions, kernel, limits, procfs,
    survival,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch11-thread-pool");
const IDLE: &str = "Sorry, you have been idle too long. Goodbye.\n";

#[test]
fn session_matches_the_book() {
    // One worker and a queue of one: who is served, who waits and who is
    // turned away is then the same in every run.
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "1", "1"], &[]);
    let mut log = format!("listening on {}\n", server.addr());
    let mut log_next = |server: &mut Server| {
        log.push_str(&server.next_line());
        log.push('\n');
    };
    let mut first = welcomed(&server);
    log_next(&mut server);
    round_trip(&mut first, "hello from the first");
    round_trip(&mut first, "and again");
    // The worker is busy: the second waits in the queue, unwelcomed, and
    // the third finds the queue full.
    let mut second = server.connect();
    assert!(second.is_silent_for(Duration::from_millis(100)));
    let mut third = server.connect();
    assert_eq!(third.read_line(), FULL);
    log_next(&mut server);
    drop(first);
    log_next(&mut server);
    hear_welcome(&mut second);
    log_next(&mut server);
    round_trip(&mut second, "I waited");
    drop(second);
    log_next(&mut server);
    Transcript::new("transcripts/session.console")
        .command("cargo run -p ch11-thread-pool -- 127.0.0.1:5000 1 1")
        .output(&log)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn the_threads_are_started_once_and_serve_client_after_client() {
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "3"], &[]);
    let pid = server.pid();
    // The main thread, three workers, and the log's writer.
    assert_eq!(kernel::threads(pid), 5);
    for round in 0..20 {
        let mut client = welcomed(&server);
        round_trip(&mut client, &format!("client {round}"));
        drop(client);
        server.next_line();
        assert!(server.next_line().contains(" disconnected (lines: 1;"));
    }
    assert_eq!(kernel::threads(pid), 5, "no thread was started or lost");
}

#[test]
fn the_workers_count_what_they_served_together() {
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "4"], &[]);
    let mut clients: Vec<Client> = (0..4).map(|_| welcomed(&server)).collect();
    for _ in 0..4 {
        server.next_line();
    }
    for (number, client) in clients.iter_mut().enumerate() {
        for line in 0..=number {
            round_trip(client, &format!("line {line}"));
        }
    }
    // 1 + 2 + 3 + 4 lines, from four workers, one count.
    for (left, client) in clients.into_iter().enumerate() {
        let addr = client.local_addr();
        drop(client);
        let line = server.next_line();
        assert!(
            line.contains(&format!(
                " {addr} disconnected (lines: {}; ",
                left + 1
            )) && line.ends_with(&format!(
                "in all, clients: {}, lines: 10)",
                left + 1
            )),
            "{line}"
        );
    }
}

#[test]
fn a_full_queue_turns_the_next_client_away_at_once() {
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "1", "2"], &[]);
    let mut served = welcomed(&server);
    server.next_line();
    let mut waiting = [server.connect(), server.connect()];
    let started = Instant::now();
    let mut refused = server.connect();
    assert_eq!(refused.read_line(), FULL);
    refused.expect_closed();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        server.next_line(),
        format!(
            "{} refused: 1 of 1 workers busy, queue of 2 full",
            refused.local_addr()
        )
    );
    // The waiting ones are served in turn, first come first served.
    round_trip(&mut served, "the worker is mine");
    drop(served);
    server.next_line();
    hear_welcome(&mut waiting[0]);
    assert!(waiting[1].is_silent_for(Duration::from_millis(100)));
    round_trip(&mut waiting[0], "my turn");
    let [first, mut second] = waiting;
    drop(first);
    hear_welcome(&mut second);
    round_trip(&mut second, "my turn at last");
}

#[test]
fn answers_every_line_and_replaces_the_line_ending() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    round_trip(&mut client, "hello");
    client.send(b"from telnet\r\n");
    assert_eq!(client.read_line(), "OK ... from telnet\n");
    client.send(b"hel");
    assert!(client.is_silent_for(Duration::from_millis(100)));
    client.send(b"lo\nsecond\n");
    assert_eq!(client.read_line(), "OK ... hello\n");
    assert_eq!(client.read_line(), "OK ... second\n");
}

#[test]
fn a_half_closed_client_gets_all_its_replies_before_the_server_closes() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    client.send(b"one\ntwo");
    client.shutdown_write();
    assert_eq!(client.read_line(), "OK ... one\n");
    assert_eq!(client.read_line(), "OK ... two\n");
    client.expect_closed();
}

#[test]
fn a_line_too_long_is_told_why_and_the_worker_serves_the_next_client() {
    select_server::assert_a_line_too_long_is_told_why_after_the_replies_owed(
        SERVER,
    );
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "1"], &[]);
    let mut client = welcomed(&server);
    client.send(&[b'z'; 1500]);
    assert_eq!(client.read_line(), TOO_LONG);
    client.expect_closed();
    drop(client);
    let mut next = welcomed(&server);
    round_trip(&mut next, "the only worker is back");
}

#[test]
fn a_reset_connection_frees_its_worker() {
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "1"], &[]);
    let leaves = welcomed(&server);
    let addr = leaves.local_addr();
    server.next_line();
    leaves.reset();
    let line = server.next_line();
    assert!(
        line.starts_with(&format!(
            "worker 1: {addr} dropped: could not read: Connection reset by peer"
        )),
        "{line}"
    );
    let mut next = welcomed(&server);
    round_trip(&mut next, "served");
}

#[test]
fn a_silent_client_is_let_go_and_its_worker_takes_the_next() {
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0", "1", "1", "1"], &[]);
    let mut silent = welcomed(&server);
    server.next_line();
    let mut waiting = server.connect();
    assert_eq!(silent.read_line(), IDLE);
    silent.expect_closed();
    assert!(
        server
            .next_line()
            .contains(" let go: idle for 1 s (lines: 0;")
    );
    hear_welcome(&mut waiting);
    round_trip(&mut waiting, "served at last");
}

#[test]
fn idle_workers_cost_no_cpu() {
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "20"], &[]);
    let _clients: Vec<Client> = (0..10).map(|_| welcomed(&server)).collect();
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(50),
        "20 idle workers cost {used:?} of CPU in one second"
    );
}

#[test]
fn when_the_workers_cannot_all_be_started_it_says_so_before_listening() {
    let Some((mut command, uid)) =
        limits::command_bound_by_process_limit(SERVER)
    else {
        return;
    };
    // Room for a few more tasks of this user, and 50 workers to start.
    limits::limit_processes(&mut command, limits::tasks_of(uid) + 3);
    command.args(["127.0.0.1:0", "50"]);
    let run = Process::run_command(command);
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "", "it did not listen");
    assert!(
        run.stderr.starts_with("could not start worker ")
            && run.stderr.ends_with(
                " of 50: Resource temporarily unavailable (os error 11)\n"
            ),
        "{}",
        run.stderr
    );
}

#[test]
fn out_of_descriptors_the_acceptor_pauses_and_then_serves() {
    let mut server = Server::start(SERVER);
    survival::assert_out_of_descriptors_it_pauses(
        &mut server,
        &Visit,
        "could not accept a connection: Too many open files (os error 24)",
    );
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &Visit);
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Visit,
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
        &[&["--help"], &["127.0.0.1:0", "1", "1", "1", "extra"]],
        "usage: ch11-thread-pool [ADDR [WORKERS [QUEUE [MAX_IDLE_SECS]]]]",
    );
}

#[test]
fn numbers_it_cannot_use_are_refused_before_listening() {
    for (args, message) in [
        (
            ["0", "1", "1"],
            "WORKERS must be a number of workers, 1 to 100000, not \"0\"",
        ),
        (
            ["1", "0", "1"],
            "QUEUE must be a number of connections, 1 to 100000, not \"0\"",
        ),
        (
            ["1", "many", "1"],
            "QUEUE must be a number of connections, 1 to 100000, not \"many\"",
        ),
        (
            ["1", "1", "0"],
            "MAX_IDLE_SECS must be a number of seconds, 1 or more, not \"0\"",
        ),
    ] {
        let args = ["127.0.0.1:0", args[0], args[1], args[2]];
        let run = Process::run(SERVER, args, b"");
        assert_eq!(run.code(), 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr, format!("{message}\n"));
    }
    let run = Process::run(SERVER, ["127.0.0.1:0", "100001"], b"");
    assert_eq!(run.code(), 2, "{run:?}");
}

#[test]
fn the_welcome_is_listing_5_1s() {
    let server = Server::start(SERVER);
    let mut client = server.connect();
    assert_eq!(client.read_line(), WELCOME[0]);
}

#[test]
fn what_clients_send_never_reaches_the_log() {
    let mut server = Server::start(SERVER);
    let mut client = server.connect();
    hear_welcome(&mut client);
    client.send(b"\x1b[31mred\nforged line\n");
    assert_eq!(client.read_line(), "OK ... \x1b[31mred\n");
    assert_eq!(client.read_line(), "OK ... forged line\n");
    drop(client);
    server.process().wait_for_stdout(" disconnected (");
    let log = server.process().stdout();
    assert!(!log.contains('\x1b') && !log.contains("forged"), "{log}");
}
