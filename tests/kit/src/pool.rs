//! The prefork pools of chapter 10 (Listing 10-1, Listing 10-4 and the
//! graceful-reload exercise), and what every one of them must survive,
//! whatever its workers do with their clients: a stopped worker, a
//! supervisor that cannot fork, a worker out of descriptors, a log nobody
//! reads (issue 10, items 5 to 9, 12).
//!
//! Each check starts the pool as `program 127.0.0.1:0` (or on a port it
//! chooses) with `MAX_PROCS` set, and drives it from outside: signals,
//! resource limits, pipes that nobody reads.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::pipes::{UnreadPipe, closed_pipe};
use crate::{
    Client, Process, Server, connect_when_listening, forking, kernel, limits,
    procfs, skip, tcp_queues, timeout, unused_port, wait_until,
};

/// Starts `program` on an ephemeral port with `workers` workers.
#[track_caller]
fn start(program: &str, workers: usize) -> Server {
    Server::start_with(
        program,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &workers.to_string())],
    )
}

/// The live children of `parent`.
#[track_caller]
fn live_children(parent: u32) -> BTreeSet<u32> {
    procfs::live_children(parent)
        .iter()
        .map(|child| child.pid)
        .collect()
}

/// Whether `pid` waits for a client: asleep in `accept`, or in `poll` (the
/// workers of exercise 10-2 wait there).
#[track_caller]
fn waits_for_a_client(pid: u32) -> bool {
    kernel::wchan(pid)
        .is_some_and(|wchan| wchan.contains("accept") || wchan.contains("poll"))
}

/// Waits until `parent` has exactly `count` live children (its workers), and
/// returns them. Where `/proc/<pid>/wchan` is readable, also until each one
/// waits for a client; elsewhere a live worker is the best we can know.
#[track_caller]
pub fn workers(parent: u32, count: usize) -> BTreeSet<u32> {
    let mut pids = BTreeSet::new();
    let check_wchan = kernel::wchan_is_readable();
    let ready = wait_until(timeout(), || {
        pids = live_children(parent);
        pids.len() == count
            && (!check_wchan || pids.iter().all(|&pid| waits_for_a_client(pid)))
    });
    assert!(
        ready,
        "expected {count} idle workers of {parent}, found {pids:?}"
    );
    pids
}

#[track_caller]
fn signal(pid: u32, signal: Signal) {
    if let Err(err) = kill(Pid::from_raw(pid as i32), signal) {
        panic!("could not send {signal} to {pid}: {err}");
    }
}

/// Stops `pid` with SIGSTOP, as Ctrl-Z or a debugger does, and waits until
/// the kernel shows it stopped (state `T`).
#[track_caller]
fn stop_process(pid: u32) {
    signal(pid, Signal::SIGSTOP);
    procfs::wait_for_state(pid, 'T');
}

/// Lines of `text` that contain `needle`.
#[track_caller]
fn count_lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|line| line.contains(needle)).count()
}

// ---------------------------------------------------------------------------
// A stopped worker (issue 10, item 7).

/// One worker stopped with SIGSTOP, then SIGTERM to the supervisor: the
/// server still stops, within the kit's timeout, and takes every worker
/// with it, the stopped one included.
#[track_caller]
pub fn assert_sigterm_stops_the_pool_even_with_a_stopped_worker(program: &str) {
    let mut server = start(program, 2);
    let workers = workers(server.pid(), 2);
    let stopped = *workers.first().expect("two workers");
    stop_process(stopped);

    server.process().signal(Signal::SIGTERM);
    // `finish` fails the test if the server has not exited within timeout().
    let finished = server.into_process().finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    for pid in workers {
        assert!(!procfs::exists(pid), "worker {pid} outlived the server");
    }
}

/// One worker stopped with SIGSTOP, then SIGKILL to the supervisor: no
/// worker is left, the stopped one included, and the port is free again.
#[track_caller]
pub fn assert_a_stopped_worker_dies_with_its_killed_supervisor(program: &str) {
    let mut server = start(program, 2);
    let workers = workers(server.pid(), 2);
    let stopped = *workers.first().expect("two workers");
    stop_process(stopped);

    server.process().signal(Signal::SIGKILL);
    assert!(
        wait_until(timeout(), || {
            workers.iter().all(|&pid| !procfs::is_running(pid))
        }),
        "workers outlived their supervisor: {:?}",
        workers
            .iter()
            .map(|&pid| procfs::stat(pid))
            .collect::<Vec<_>>()
    );
    assert_eq!(kernel::listening_sockets(server.port()), 0);
    TcpListener::bind(server.addr()).expect("the port is free again");
}

// ---------------------------------------------------------------------------
// A pool that cannot fork (issue 10, item 6).

/// Every worker killed while the supervisor may not fork (its user is at its
/// process limit): the supervisor says so, and tries again, but rarely,
/// using next to no CPU; a client waits in the queue meanwhile. Once the
/// supervisor may fork again, it refills every slot, and the client is
/// served.
#[track_caller]
pub fn assert_failed_forks_are_retried_until_every_slot_is_refilled(
    program: &str,
) {
    let Some((mut command, uid)) =
        limits::command_bound_by_process_limit(program)
    else {
        return;
    };
    // Start under a low limit: what the user runs now, the supervisor and its
    // two workers, and some room for other processes of that user (other
    // tests, when it is the test's own user).
    let limit = limits::tasks_of(uid) + 3 + 64;
    limits::limit_processes(&mut command, limit);
    command.arg("127.0.0.1:0").env("MAX_PROCS", "2");
    let mut server = Server::from_process(Process::spawn(command));
    let old = workers(server.pid(), 2);

    // From now on the supervisor may not fork at all: with a limit of one
    // process, whatever else its user runs, every fork() fails with EAGAIN.
    limits::set_process_limit(server.pid(), uid, 1);
    for &pid in &old {
        signal(pid, Signal::SIGKILL);
    }
    assert!(
        wait_until(timeout(), || live_children(server.pid()).is_empty()),
        "a worker was replaced although fork() must fail"
    );
    server.process().wait_for_stderr("could not start a worker");
    // A client now waits in the queue: no worker is left to accept it.
    let mut client = server.connect();

    // The supervisor waits longer and longer between tries, up to a second.
    server.process().wait_for_stderr("trying again in 1s");
    let tries = |server: &mut Server| {
        count_lines(&server.process().stderr(), "could not start a worker")
    };
    let before = tries(&mut server);
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    let during = tries(&mut server) - before;
    assert!(
        used < Duration::from_millis(100),
        "the supervisor used {used:?} of CPU in a second of retrying"
    );
    assert!(during <= 3, "{during} tries logged in one second");
    assert!(live_children(server.pid()).is_empty());

    // Allowed to fork again, it refills both slots, and the client is served.
    limits::set_process_limit(server.pid(), uid, limit);
    let served_by = client.read_greeting_pid();
    let mut new = BTreeSet::new();
    assert!(
        wait_until(timeout(), || {
            new = live_children(server.pid());
            new.len() == 2
        }),
        "the slots were not refilled: {new:?}"
    );
    assert!(new.is_disjoint(&old) && new.contains(&served_by));
    // A worker exists a moment before its supervisor logs that it started:
    // wait for the fourth line, then make sure there is no fifth.
    let started = |server: &mut Server| {
        count_lines(&server.process().stdout(), "started")
    };
    wait_until(timeout(), || started(&mut server) >= 4);
    assert_eq!(started(&mut server), 4, "{}", server.process().stdout());
}

// ---------------------------------------------------------------------------
// Out of descriptors (issue 10, item 5).

/// A worker at its descriptor limit cannot accept the client that waits for
/// it. It says so and pauses, longer and longer, instead of retrying at once
/// at full speed; once it may open a descriptor again, it serves the client.
#[track_caller]
pub fn assert_a_worker_out_of_descriptors_pauses_instead_of_spinning(
    program: &str,
) {
    if !kernel::wchan_is_readable() {
        skip("/proc/<pid>/wchan is not readable: cannot see a worker wait");
        return;
    }
    let mut server = start(program, 1);
    let worker = *workers(server.pid(), 1).first().expect("one worker");
    // Not one descriptor more than it has open: accept() gets EMFILE.
    limits::set_descriptor_limit(
        worker,
        procfs::lowest_free_descriptor(worker),
    );
    let mut client = server.connect();
    // A worker asleep in accept() took the descriptor for its next client
    // before it slept (Linux reserves it first), so it serves this client,
    // and only its next accept() fails. A worker that waits in poll() fails
    // with this very client.
    let (mine, its) = (client.local_addr(), server.addr());
    assert!(wait_until(timeout(), || {
        server.process().stderr().contains("could not accept")
            || tcp_queues::queues(mine, its).is_some_and(|q| q.receive > 0)
    }));
    if !server.process().stderr().contains("could not accept") {
        assert_eq!(client.read_greeting_pid(), worker);
        drop(client);
        server.process().wait_for_stderr("could not accept");
        client = server.connect();
    }

    let failures = |server: &mut Server| {
        count_lines(&server.process().stderr(), "could not accept")
    };
    let before = failures(&mut server);
    let used = procfs::cpu_used_during(worker, Duration::from_secs(1));
    let during = failures(&mut server) - before;
    assert!(
        used < Duration::from_millis(100),
        "the worker used {used:?} of CPU in a second without descriptors"
    );
    assert!(during <= 8, "{during} failures logged in one second");

    limits::set_descriptor_limit(worker, 1024);
    assert_eq!(client.read_greeting_pid(), worker);
    client.send_line("hello");
    assert_eq!(client.read_line(), "hello\n");
}

// ---------------------------------------------------------------------------
// One message, one write (issue 10, item 12).

/// The greeting arrives in one segment, and so does each echo: the worker
/// writes each message with one call.
#[track_caller]
pub fn assert_each_reply_is_one_write(program: &str) {
    let server = start(program, 1);
    let worker = *workers(server.pid(), 1).first().expect("one worker");
    let mut client = server.connect();
    let greeted_by =
        forking::assert_each_reply_arrives_in_one_segment(&mut client);
    assert_eq!(greeted_by, worker);
}

/// What a client sends never reaches the log raw: an escape sequence could
/// drive the operator's terminal, a newline could forge a log line. (The
/// pools log no client bytes at all; this keeps it so.)
#[track_caller]
pub fn assert_client_bytes_never_reach_the_log(program: &str) {
    let mut server = start(program, 1);
    workers(server.pid(), 1);
    let mut client = server.connect();
    client.read_greeting_pid();
    let hostile = "\x1b[31mred\nforged line";
    client.send_line(hostile);
    assert_eq!(client.read_line(), "\x1b[31mred\n");
    assert_eq!(client.read_line(), "forged line\n");
    // And a client that leaves rudely, which the worker logs as an error.
    client.send(hostile.as_bytes());
    client.reset();
    server.process().signal(Signal::SIGTERM);
    let finished = server.into_process().finish();
    for log in [&finished.stdout, &finished.stderr] {
        assert!(!log.contains('\x1b') && !log.contains("forged"), "{log:?}");
    }
}

// ---------------------------------------------------------------------------
// Standard output (issue 10, item 9).

/// Starts `program` on a port of the test's choosing, with `stdout` as its
/// standard output and `workers` workers; waits until it listens.
#[track_caller]
fn start_with_stdout(
    program: &str,
    workers: usize,
    stdout: Stdio,
) -> (Process, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(program);
    command
        .arg(addr.to_string())
        .env("MAX_PROCS", workers.to_string());
    let process = Process::spawn_with_stdout(command, stdout);
    drop(connect_when_listening(addr));
    (process, addr)
}

/// Kills the one worker of `server` `times` times, each time waiting for its
/// replacement: every death and every start is a line of the supervisor's
/// log. Returns the last worker.
#[track_caller]
fn churn_workers(server: u32, times: usize) -> u32 {
    let mut worker = only_worker(server, None);
    for _ in 0..times {
        signal(worker, Signal::SIGKILL);
        worker = only_worker(server, Some(worker));
    }
    worker
}

/// The one live worker of `server`, once it is not `not`.
#[track_caller]
fn only_worker(server: u32, not: Option<u32>) -> u32 {
    let mut now = BTreeSet::new();
    let found = wait_until(timeout(), || {
        now = live_children(server);
        now.len() == 1 && now.first() != not.as_ref()
    });
    assert!(found, "no new worker replaced {not:?}: workers now {now:?}");
    *now.first().expect("one worker")
}

/// With stdout a pipe whose reader has gone, the server starts, serves, and
/// replaces a dead worker: a log line it cannot write is dropped.
#[track_caller]
pub fn assert_a_closed_stdout_does_not_stop_the_pool(program: &str) {
    let (process, addr) = start_with_stdout(program, 1, closed_pipe().into());
    let worker = churn_workers(process.pid(), 3);
    let mut client = Client::connect(addr);
    assert_eq!(client.read_greeting_pid(), worker);
    process.signal(Signal::SIGTERM);
    let finished = process.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
}

/// With stdout a pipe of one page that nobody reads, the supervisor goes on
/// replacing workers long after the pipe is full, and stops on SIGTERM.
#[track_caller]
pub fn assert_a_full_stdout_does_not_stop_the_supervisor(program: &str) {
    let pipe = UnreadPipe::one_page();
    let (process, addr) = start_with_stdout(program, 1, pipe.writer().into());
    // Each death and start logs about 60 bytes: 100 of them overfill it.
    let worker = churn_workers(process.pid(), 100);
    assert!(pipe.is_full(), "a hundred workers' log fills one page");
    let mut client = Client::connect(addr);
    assert_eq!(client.read_greeting_pid(), worker);
    process.signal(Signal::SIGTERM);
    let finished = process.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
}
