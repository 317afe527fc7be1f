//! Listings 10-1 to 10-3 behave as chapter 10 says: MAX_PROCS workers, all
//! children of the server, all asleep in accept() on one socket; a connection
//! wakes one of them; a dead worker is replaced; SIGTERM or SIGINT stops them
//! all; and the server itself sleeps while nothing happens. The checks of
//! the test kit's `pool` module are what every pool of the chapter must
//! also survive.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{
    Server, Transcript, conventions, kernel, pool, procfs, timeout, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-worker-pool");

/// Starts the pool with `workers` workers on an ephemeral port.
fn start(workers: usize) -> Server {
    Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &workers.to_string())],
    )
}

/// Waits until the server has exactly `count` workers, every one asleep in
/// accept() (where the machine shows it), and returns their pids.
fn idle_workers(server: &Server, count: usize) -> BTreeSet<u32> {
    pool::workers(server.pid(), count)
}

/// Whether this machine shows where a process sleeps; if not, says that the
/// test is skipped.
fn wchan_is_readable() -> bool {
    let readable = kernel::wchan_is_readable();
    if !readable {
        testkit::skip("/proc/<pid>/wchan is not readable on this machine");
    }
    readable
}

/// Whether `pid` no longer runs: gone, or a zombie waiting for whoever
/// adopted it.
fn is_gone(pid: u32) -> bool {
    procfs::stat(pid).is_none_or(|stat| stat.state == 'Z')
}

#[test]
fn every_worker_is_a_child_of_the_server_asleep_in_accept() {
    if !wchan_is_readable() {
        return;
    }
    let mut server = start(3);
    let workers = idle_workers(&server, 3);
    let logged: BTreeSet<u32> = (0..3)
        .map(|_| {
            let line = server.next_line();
            line.strip_prefix("worker ")
                .and_then(|rest| rest.strip_suffix(" started"))
                .and_then(|pid| pid.parse().ok())
                .unwrap_or_else(|| {
                    panic!("expected `worker <pid> started`, got {line:?}")
                })
        })
        .collect();
    assert_eq!(logged, workers);
    // The parent never starts a thread, which is what makes fork() safe.
    assert_eq!(kernel::threads(server.pid()), 1);
    // One listening socket, shared by every worker.
    assert_eq!(kernel::listening_sockets(server.port()), 1);
}

#[test]
fn the_default_is_two_workers() {
    let server = Server::start(SERVER);
    idle_workers(&server, 2);
}

#[test]
fn a_client_is_greeted_by_a_worker_and_every_byte_is_echoed() {
    let server = start(2);
    let workers = idle_workers(&server, 2);
    let mut client = server.connect();
    assert!(workers.contains(&client.read_greeting_pid()));
    // A chunk that is just "0" ends PHP's `while ($buf = fread(...))`; here
    // it is echoed like any other.
    client.send(b"0");
    assert_eq!(client.read_exact(1), b"0");
    let binary: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
    client.send(&binary);
    assert_eq!(client.read_exact(binary.len()), binary);
    client.shutdown_write();
    client.expect_closed();
}

#[test]
fn two_clients_at_once_are_served_by_two_different_workers() {
    let server = start(2);
    let workers = idle_workers(&server, 2);
    let mut first = server.connect();
    let mut second = server.connect();
    let served_by: BTreeSet<u32> =
        [first.read_greeting_pid(), second.read_greeting_pid()].into();
    assert_eq!(served_by, workers);
}

#[test]
fn a_client_beyond_the_workers_waits_in_the_queue_until_one_is_free() {
    if !wchan_is_readable() {
        return;
    }
    let server = start(1);
    idle_workers(&server, 1);
    let mut first = server.connect();
    let worker = first.read_greeting_pid();
    // The kernel completes the second handshake and queues the connection on
    // the listening socket, where it stays: the one worker is busy with the
    // first client, not in accept().
    let mut second = server.connect();
    assert!(
        wait_until(timeout(), || {
            kernel::accept_queues(server.port())
                .iter()
                .any(|&(_, queued)| queued == 1)
        }),
        "{:?}",
        kernel::accept_queues(server.port())
    );
    assert!(!kernel::is_blocked_in_accept(worker));
    drop(first);
    assert_eq!(second.read_greeting_pid(), worker);
}

#[test]
fn a_connection_wakes_only_the_worker_that_serves_it() {
    // Every worker sleeps in accept() on the same socket. Linux wakes one of
    // them per connection; the others are not even woken (their count of
    // voluntary context switches does not move).
    if !wchan_is_readable() {
        return;
    }
    let server = start(4);
    let workers = idle_workers(&server, 4);
    let before: Vec<u64> = workers
        .iter()
        .map(|&pid| kernel::voluntary_switches(pid).unwrap_or(0))
        .collect();

    let mut client = server.connect();
    let served_by = client.read_greeting_pid();
    client.send_line("hello");
    assert_eq!(client.read_line(), "hello\n");
    drop(client);
    idle_workers(&server, 4);

    let woken: Vec<u32> = workers
        .iter()
        .zip(before)
        .filter(|&(&pid, before)| {
            kernel::voluntary_switches(pid).unwrap_or(0) != before
        })
        .map(|(&pid, _)| pid)
        .collect();
    assert_eq!(woken, [served_by]);
}

#[test]
fn a_killed_worker_is_replaced_and_clients_are_still_served() {
    let mut server = start(2);
    let workers = idle_workers(&server, 2);
    server.next_line();
    server.next_line();
    let victim = *workers.first().expect("two workers");
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL)
        .expect("kill -9 a worker");

    assert_eq!(
        server.next_line(),
        format!("worker {victim} was killed by SIGKILL")
    );
    let started = server.next_line();
    let replacement: u32 = started
        .strip_prefix("worker ")
        .and_then(|rest| rest.strip_suffix(" started"))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| {
            panic!("expected `worker <pid> started`, got {started:?}")
        });
    let now = idle_workers(&server, 2);
    assert!(now.contains(&replacement) && !now.contains(&victim));
    // Reaped, not left a zombie.
    assert!(!procfs::exists(victim));

    let mut first = server.connect();
    let mut second = server.connect();
    let served_by: BTreeSet<u32> =
        [first.read_greeting_pid(), second.read_greeting_pid()].into();
    assert_eq!(served_by, now);
}

#[test]
fn sigterm_or_sigint_stops_every_worker_and_the_server() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut server = start(3);
        let workers = idle_workers(&server, 3);
        // One worker is busy with a client: it is stopped all the same.
        let mut client = server.connect();
        client.read_greeting_pid();

        server.process().signal(signal);
        let finished = server.into_process().finish();
        assert_eq!(finished.code(), 0, "{finished:?}");
        assert!(
            finished.stdout.ends_with(&format!(
                "{signal}: stopping 3 workers\nall workers stopped\n"
            )),
            "{finished:?}"
        );
        // No orphan and no zombie: the server waited for every worker.
        for pid in workers {
            assert!(!procfs::exists(pid), "worker {pid} outlived the server");
        }
    }
}

#[test]
fn killing_the_server_outright_takes_its_workers_with_it() {
    // SIGKILL gives the server no chance to stop its workers. The kernel
    // sends each of them SIGTERM instead (their parent-death signal).
    let mut server = start(2);
    let workers = idle_workers(&server, 2);
    server.process().signal(Signal::SIGKILL);
    assert!(
        wait_until(timeout(), || workers.iter().all(|&pid| is_gone(pid))),
        "workers {workers:?} outlived their server"
    );
}

#[test]
fn the_server_and_its_workers_sleep_while_nobody_connects() {
    let server = start(2);
    let workers = idle_workers(&server, 2);
    let span = Duration::from_millis(500);
    let used = procfs::cpu_used_during(server.pid(), span);
    assert!(
        used <= Duration::from_millis(10),
        "the server used {used:?}"
    );
    assert_eq!(procfs::stat(server.pid()).map(|stat| stat.state), Some('S'));
    for pid in workers {
        assert!(procfs::cpu_time(pid) <= Duration::from_millis(50));
    }
}

#[test]
fn without_an_address_it_listens_on_loopback_and_the_port_in_port() {
    conventions::assert_without_an_address_it_listens_on_loopback_and_port(
        SERVER,
    );
}

#[test]
fn session_matches_the_book() {
    // As the book runs it: no address, so loopback and the port in PORT
    // (here a free one, shown as the default 8080), and two workers.
    let port = testkit::unused_port().to_string();
    let mut server = Server::start_with(
        SERVER,
        std::iter::empty::<&str>(),
        &[("PORT", &port)],
    );
    let workers = idle_workers(&server, 2);
    server.next_line();
    server.next_line();
    let victim = *workers.first().expect("two workers");
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL)
        .expect("kill -9 a worker");
    server.next_line();
    server.next_line();
    idle_workers(&server, 2);
    server.process().signal(Signal::SIGTERM);
    let port = server.port();
    let finished = server.into_process().finish();
    assert_eq!(finished.code(), 0);
    Transcript::new("transcripts/kill-a-worker.console")
        .command("cargo run -p ch10-worker-pool")
        .output(&finished.stdout)
        .show_port(port, 8080)
        .check();
}

#[test]
fn a_bad_max_procs_is_refused() {
    conventions::assert_bad_max_procs_are_refused(
        SERVER,
        &["0", "two", "-1", "", "99999999999999999999999"],
    );
}

#[test]
fn a_max_procs_that_is_not_text_is_refused_too() {
    conventions::assert_a_max_procs_that_is_not_text_is_refused(SERVER);
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = start(1);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"], &["--help"]],
        "usage: ch10-worker-pool [ADDR]",
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

#[test]
fn spawn_worker_refuses_to_fork_a_process_that_runs_other_threads() {
    // This test runs in a process with threads of its own (the test
    // harness's, and one more here, to be sure). A fork() here could leave
    // the child waiting for ever on a lock another thread held.
    let (stop, stopped) = mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let _ = stopped.recv();
    });
    let result = ch10_worker_pool::spawn_worker(|| {});
    drop(stop);
    let _ = other.join();
    match result {
        Err(err) => assert!(
            err.to_string().contains("threads"),
            "the error should say why: {err}"
        ),
        Ok(pid) => {
            let _ = nix::sys::wait::waitpid(pid, None);
            panic!("spawn_worker forked a process that runs threads");
        }
    }
}

#[test]
fn client_bytes_never_reach_the_log() {
    pool::assert_client_bytes_never_reach_the_log(SERVER);
}
