//! Listing 10-4 behaves as chapter 10 says: every worker has a listening
//! socket of its own on the one port; the kernel spreads connections over
//! them, so a client can wait behind a busy worker while another is idle;
//! connections queued on a dead worker's socket go to its replacement.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{Process, Server, kernel, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-reuseport-pool");

fn start_on(addr: &str, workers: usize) -> Server {
    Server::start_with(SERVER, [addr], &[("MAX_PROCS", &workers.to_string())])
}

#[test]
fn every_worker_listens_on_a_socket_of_its_own_on_the_same_port() {
    let server = start_on("127.0.0.1:0", 3);
    kernel::children_asleep_in_accept(server.pid(), 3);
    // Three listening sockets on one port: the kernel's own table says so.
    assert_eq!(kernel::listening_sockets(server.port()), 3);
    assert_eq!(kernel::threads(server.pid()), 1);
}

#[test]
fn connections_are_spread_over_the_workers() {
    let server = start_on("127.0.0.1:0", 2);
    let workers = kernel::children_asleep_in_accept(server.pid(), 2);
    // Each connection goes to a socket chosen by a hash of its addresses and
    // ports; forty in a row all landing on one of two is a 1 in 2^39 chance.
    let served_by: BTreeSet<u32> = (0..40)
        .map(|_| {
            let mut client = server.connect();
            client.read_greeting_pid()
        })
        .collect();
    assert_eq!(served_by, workers);
}

#[test]
fn a_client_can_wait_behind_a_busy_worker_while_another_is_idle() {
    let server = start_on("127.0.0.1:0", 2);
    let workers = kernel::children_asleep_in_accept(server.pid(), 2);
    let mut busy = server.connect();
    let busy_worker = busy.read_greeting_pid();
    let idle_worker = *workers
        .iter()
        .find(|&&pid| pid != busy_worker)
        .expect("two workers");

    // Connect until a client lands on the busy worker's socket: it gets no
    // greeting, although the other worker sleeps in accept() with nothing to do.
    let mut stuck = None;
    for _ in 0..40 {
        let mut client = server.connect();
        if client.is_silent_for(Duration::from_millis(500)) {
            assert!(kernel::is_blocked_in_accept(idle_worker));
            stuck = Some(client);
            break;
        }
        assert_eq!(client.read_greeting_pid(), idle_worker);
    }
    let mut stuck = stuck
        .expect("no client hashed to the busy worker's socket in 40 tries");
    // It is served as soon as the busy worker is free, by that worker.
    drop(busy);
    assert_eq!(stuck.read_greeting_pid(), busy_worker);
}

#[test]
fn clients_queued_on_a_dead_workers_socket_go_to_its_replacement() {
    let mut server = start_on("127.0.0.1:0", 1);
    let workers = kernel::children_asleep_in_accept(server.pid(), 1);
    let victim = *workers.first().expect("one worker");
    let mut served = server.connect();
    served.read_greeting_pid();
    let mut queued = server.connect();

    kill(Pid::from_raw(victim as i32), Signal::SIGKILL)
        .expect("kill -9 the worker");
    server
        .process()
        .wait_for_stdout(&format!("worker {victim} was killed by SIGKILL"));
    let replacement = queued.read_greeting_pid();
    assert_ne!(replacement, victim);
    assert!(!procfs::exists(victim));
    assert_eq!(kernel::listening_sockets(server.port()), 1);
}

#[test]
fn a_second_pool_on_the_same_port_is_not_refused_but_joins_in() {
    // SO_REUSEPORT lets any socket of the same user that sets it too bind the
    // port: "Address already in use" no longer guards against a second server.
    let first = start_on("127.0.0.1:0", 2);
    let addr = first.addr().to_string();
    let second = start_on(&addr, 2);
    kernel::children_asleep_in_accept(second.pid(), 2);
    assert_eq!(second.addr(), first.addr());
    assert_eq!(kernel::listening_sockets(first.port()), 4);

    // A plain socket, without SO_REUSEPORT, is still refused.
    let err = TcpListener::bind(&addr).expect_err("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn a_port_held_without_reuseport_is_reported_in_one_line() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = holder.local_addr().expect("local_addr").to_string();
    let run = Process::run(SERVER, [&addr], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not bind {addr}: Address already in use (os error 98)\n"
        )
    );
}

#[test]
fn sigterm_stops_every_worker() {
    let mut server = start_on("127.0.0.1:0", 3);
    let workers = kernel::children_asleep_in_accept(server.pid(), 3);
    server.process().signal(Signal::SIGTERM);
    let finished = server.into_process().finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    for pid in workers {
        assert!(!procfs::exists(pid), "worker {pid} outlived the server");
    }
}

#[test]
fn bad_arguments_print_usage() {
    let run = Process::run(SERVER, ["127.0.0.1:0", "extra"], b"");
    assert_eq!(run.code(), 2);
    assert_eq!(run.stderr, "usage: ch10-reuseport-pool [ADDR]\n");
}
