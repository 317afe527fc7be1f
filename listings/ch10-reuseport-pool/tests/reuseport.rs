//! Listing 10-4 behaves as chapter 10 says: every worker has a listening
//! socket of its own on the one port; the kernel spreads connections over
//! them, so a client can wait behind a busy worker while another is idle;
//! connections queued on a dead worker's socket go to its replacement. And it
//! survives what every pool of the chapter must (the test kit's `pool`
//! checks, which Listing 10-1's tests run too).

use std::collections::BTreeSet;
use std::net::TcpListener;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{
    Process, Server, conventions, kernel, pool, procfs, skip, tcp_queues,
    timeout, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-reuseport-pool");

fn start_on(addr: &str, workers: usize) -> Server {
    Server::start_with(SERVER, [addr], &[("MAX_PROCS", &workers.to_string())])
}

#[test]
fn every_worker_listens_on_a_socket_of_its_own_on_the_same_port() {
    let server = start_on("127.0.0.1:0", 3);
    pool::workers(server.pid(), 3);
    // Three listening sockets on one port: the kernel's own table says so.
    assert_eq!(kernel::listening_sockets(server.port()), 3);
    assert_eq!(kernel::threads(server.pid()), 1);
}

#[test]
fn connections_are_spread_over_the_workers() {
    let server = start_on("127.0.0.1:0", 2);
    let workers = pool::workers(server.pid(), 2);
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

/// The pid in a `worker <pid> started` line.
fn started(line: &str) -> u32 {
    line.strip_prefix("worker ")
        .and_then(|rest| rest.strip_suffix(" started"))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("expected `worker <pid> started`: {line:?}"))
}

/// The inodes of the supervisor's listening sockets on its port, in the
/// order it opened them: slot 0's first. Each one took the lowest free
/// descriptor, so that is the order of their descriptor numbers.
fn sockets_by_slot(server: &Server) -> Vec<u64> {
    let listening: BTreeSet<u64> = kernel::accept_queues(server.port())
        .iter()
        .map(|&(inode, _)| inode)
        .collect();
    let mut fds: Vec<u32> =
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .expect("the supervisor's descriptors")
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
    fds.sort();
    fds.into_iter()
        .filter(|&fd| {
            procfs::fd_target(server.pid(), fd).is_some_and(|target| {
                target.to_string_lossy().starts_with("socket:")
            })
        })
        .map(|fd| procfs::socket_inode(server.pid(), fd))
        .filter(|inode| listening.contains(inode))
        .collect()
}

#[test]
fn a_client_can_wait_behind_a_busy_worker_while_another_is_idle() {
    if !kernel::wchan_is_readable() {
        skip("/proc/<pid>/wchan is not readable on this machine");
        return;
    }
    let mut server = start_on("127.0.0.1:0", 2);
    let workers = pool::workers(server.pid(), 2);
    // The supervisor starts slot 0, then slot 1.
    let slots = [started(&server.next_line()), started(&server.next_line())];
    assert_eq!(BTreeSet::from(slots), workers);
    let sockets = sockets_by_slot(&server);
    assert_eq!(sockets.len(), 2, "{sockets:?}");

    let mut busy = server.connect();
    let busy_worker = busy.read_greeting_pid();
    let busy_slot = slots
        .iter()
        .position(|&pid| pid == busy_worker)
        .expect("the busy worker has a slot");
    let busy_socket = sockets[busy_slot];
    let idle_worker = slots[1 - busy_slot];
    let queued_behind_busy = || {
        kernel::accept_queues(server.port())
            .iter()
            .any(|&(inode, queued)| inode == busy_socket && queued > 0)
    };

    // Connect until a client lands on the busy worker's socket. Each client
    // is either greeted by the idle worker, or waits in the busy worker's
    // accept queue, as /proc/net/tcp shows.
    let mut stuck = None;
    for _ in 0..40 {
        let mut client = server.connect();
        let (mine, its) = (client.local_addr(), server.addr());
        assert!(wait_until(timeout(), || {
            queued_behind_busy()
                || tcp_queues::queues(mine, its).is_some_and(|q| q.receive > 0)
        }));
        if queued_behind_busy() {
            stuck = Some(client);
            break;
        }
        assert_eq!(client.read_greeting_pid(), idle_worker);
    }
    let mut stuck = stuck
        .expect("no client hashed to the busy worker's socket in 40 tries");
    // It waits although the other worker sleeps in accept() with nothing to
    // do (once back from the client before).
    assert!(
        wait_until(timeout(), || kernel::is_blocked_in_accept(idle_worker)),
        "the idle worker is not in accept(): {:?}",
        kernel::wchan(idle_worker)
    );
    assert!(queued_behind_busy(), "the client was taken from the queue");
    // It is served as soon as the busy worker is free, by that worker.
    drop(busy);
    assert_eq!(stuck.read_greeting_pid(), busy_worker);
}

#[test]
fn clients_queued_on_a_dead_workers_socket_go_to_its_replacement() {
    let mut server = start_on("127.0.0.1:0", 1);
    let workers = pool::workers(server.pid(), 1);
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
    pool::workers(second.pid(), 2);
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
    let workers = pool::workers(server.pid(), 3);
    server.process().signal(Signal::SIGTERM);
    let finished = server.into_process().finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    for pid in workers {
        assert!(!procfs::exists(pid), "worker {pid} outlived the server");
    }
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"]],
        "usage: ch10-reuseport-pool [ADDR]",
    );
}

#[test]
fn a_bad_max_procs_is_refused_before_anything_is_printed() {
    conventions::assert_bad_max_procs_are_refused(
        SERVER,
        &["0", "many", "99999999999999999999999"],
    );
}

#[test]
fn a_worker_that_cannot_be_replaced_is_retried_until_every_slot_is_full() {
    pool::assert_failed_forks_are_retried_until_every_slot_is_refilled(SERVER);
}

#[test]
fn sigterm_stops_the_pool_even_with_a_stopped_worker() {
    pool::assert_sigterm_stops_the_pool_even_with_a_stopped_worker(SERVER);
}

#[test]
fn a_stopped_worker_dies_with_its_killed_supervisor() {
    pool::assert_a_stopped_worker_dies_with_its_killed_supervisor(SERVER);
}

#[test]
fn a_worker_out_of_descriptors_pauses_instead_of_spinning() {
    pool::assert_a_worker_out_of_descriptors_pauses_instead_of_spinning(SERVER);
}

#[test]
fn the_greeting_and_each_echo_are_one_write_each() {
    pool::assert_each_reply_is_one_write(SERVER);
}

#[test]
fn a_closed_stdout_does_not_stop_the_pool() {
    pool::assert_a_closed_stdout_does_not_stop_the_pool(SERVER);
}

#[test]
fn a_full_stdout_does_not_stop_the_supervisor() {
    pool::assert_a_full_stdout_does_not_stop_the_supervisor(SERVER);
}
