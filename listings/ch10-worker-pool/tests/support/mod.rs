//! Checks that every prefork pool of chapter 10 must pass, whatever its
//! workers do with their clients: Listing 10-1 (`pool.rs`), Listing 10-4
//! (`ch10-reuseport-pool`) and exercise 10-2 (`ch10-exercise-graceful-reload`,
//! which includes this file by path) all run them on their own binary.
//!
//! Each check starts the server as `program 127.0.0.1:0` (or on a port it
//! chooses) with `MAX_PROCS` set, and drives it from outside: signals,
//! resource limits, pipes that nobody reads.
//!
//! What the test kit lacks is here too: the number of processes a user runs,
//! setting a running process's `RLIMIT_NPROC`, running a program as another
//! user, and the accept queue of a listening socket.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{
    Process, Server, connect_when_listening, kernel, limits, procfs, skip,
    tcp_queues, timeout, unused_port, wait_until,
};

/// Starts `program` on an ephemeral port with `workers` workers.
pub fn start(program: &str, workers: usize) -> Server {
    Server::start_with(
        program,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &workers.to_string())],
    )
}

/// The live children of `parent`.
pub fn live_children(parent: u32) -> BTreeSet<u32> {
    procfs::live_children(parent)
        .iter()
        .map(|child| child.pid)
        .collect()
}

/// Whether `pid` waits for a client: asleep in `accept`, or in `poll` (the
/// workers of exercise 10-2 wait there).
fn waits_for_a_client(pid: u32) -> bool {
    kernel::wchan(pid)
        .is_some_and(|wchan| wchan.contains("accept") || wchan.contains("poll"))
}

/// Waits until `parent` has exactly `count` live children (its workers), and
/// returns them. Where `/proc/<pid>/wchan` is readable, also until each one
/// waits for a client; elsewhere a live worker is the best we can know.
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

/// Whether `pid` no longer runs: gone, or a zombie waiting to be reaped.
pub fn is_gone(pid: u32) -> bool {
    procfs::stat(pid).is_none_or(|stat| stat.state == 'Z')
}

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap_or_else(|err| {
        panic!("could not send {signal} to {pid}: {err}")
    });
}

/// Stops `pid` with SIGSTOP, as Ctrl-Z or a debugger does, and waits until
/// the kernel shows it stopped (state `T`).
pub fn stop_process(pid: u32) {
    signal(pid, Signal::SIGSTOP);
    assert!(
        wait_until(timeout(), || {
            procfs::stat(pid).is_some_and(|stat| stat.state == 'T')
        }),
        "process {pid} did not stop"
    );
}

/// Lines of `text` that contain `needle`.
pub fn count_lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|line| line.contains(needle)).count()
}

// ---------------------------------------------------------------------------
// A stopped worker (issue 10, item 7).

/// One worker stopped with SIGSTOP, then SIGTERM to the supervisor: the
/// server still stops, within the kit's timeout, and takes every worker
/// with it, the stopped one included.
pub fn sigterm_stops_the_pool_even_with_a_stopped_worker(program: &str) {
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
pub fn a_stopped_worker_dies_with_its_killed_supervisor(program: &str) {
    let mut server = start(program, 2);
    let workers = workers(server.pid(), 2);
    let stopped = *workers.first().expect("two workers");
    stop_process(stopped);

    server.process().signal(Signal::SIGKILL);
    assert!(
        wait_until(timeout(), || workers.iter().all(|&pid| is_gone(pid))),
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

/// The user `nobody`, which a root test runs the server as: `RLIMIT_NPROC`
/// does not bind root.
pub const NOBODY: u32 = 65534;

/// How many tasks (processes and their threads) the user `uid` runs: what
/// the kernel compares with `RLIMIT_NPROC` when one of them forks.
pub fn tasks_of(uid: u32) -> u64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry.file_name().to_str().is_some_and(|name| {
                name.bytes().all(|byte| byte.is_ascii_digit())
            })
        })
        .filter_map(|entry| {
            fs::read_to_string(entry.path().join("status")).ok()
        })
        .filter(|status| {
            let real_uid = status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next())
                .and_then(|id| id.parse::<u32>().ok());
            real_uid == Some(uid)
        })
        .map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|count| count.trim().parse().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// Sets the soft `RLIMIT_NPROC` of the running process `pid`, which runs as
/// user `uid`, to `soft` (at most its hard limit, which stays).
///
/// prlimit(2) may change the limits of a process of one's own user, or of
/// anyone's with `CAP_SYS_RESOURCE`, which a root test may lack (containers
/// often drop it). So the call is made by a short-lived helper, `true`, run as
/// `uid`: after it has become that user and before it runs `true`.
pub fn set_process_limit(pid: u32, uid: u32, soft: u64) {
    let mut helper = Command::new("true");
    if uid != nix::unistd::getuid().as_raw() {
        helper.uid(uid).gid(uid);
    }
    let target = pid as libc::pid_t;
    // SAFETY: the closure runs in the forked helper before exec, and only
    // calls prlimit(2), which is async-signal-safe, with pointers to rlimit
    // values on its own stack.
    unsafe {
        helper.pre_exec(move || {
            let mut old = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::prlimit(
                target,
                libc::RLIMIT_NPROC,
                std::ptr::null(),
                &mut old,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let new = libc::rlimit {
                rlim_cur: soft.min(old.rlim_max),
                rlim_max: old.rlim_max,
            };
            if libc::prlimit(
                target,
                libc::RLIMIT_NPROC,
                &new,
                std::ptr::null_mut(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let run = Process::run_command(helper);
    assert_eq!(run.code(), 0, "could not set the process limit: {run:?}");
}

/// A command that runs `program` as a user whom `RLIMIT_NPROC` binds, and
/// that user's id: the test's own user, or `nobody` when the test runs as
/// root. `None`, having said why, when `nobody` cannot run the program (a
/// folder on its path that only root may enter, say).
pub fn command_bound_by_process_limit(program: &str) -> Option<(Command, u32)> {
    if !limits::is_root() {
        return Some((Command::new(program), nix::unistd::getuid().as_raw()));
    }
    // Can nobody run it? Start it with an argument it refuses, at once.
    let mut probe = Command::new(program);
    probe
        .arg("--help")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match probe.spawn() {
        Ok(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(err) => {
            skip(&format!(
                "the user nobody ({NOBODY}) cannot run {program}: {err}"
            ));
            return None;
        }
    }
    let mut command = Command::new(program);
    command.uid(NOBODY).gid(NOBODY);
    Some((command, NOBODY))
}

/// Every worker killed while the supervisor may not fork (its user is at its
/// process limit): the supervisor says so, and tries again, but rarely,
/// using next to no CPU; a client waits in the queue meanwhile. Once the
/// supervisor may fork again, it refills every slot, and the client is
/// served.
pub fn failed_forks_are_retried_until_every_slot_is_refilled(program: &str) {
    let Some((mut command, uid)) = command_bound_by_process_limit(program)
    else {
        return;
    };
    // Start under a low limit: what the user runs now, the supervisor and its
    // two workers, and some room for other processes of that user (other
    // tests, when it is the test's own user).
    let limit = tasks_of(uid) + 3 + 64;
    limits::limit_processes(&mut command, limit);
    command.arg("127.0.0.1:0").env("MAX_PROCS", "2");
    let mut server = Server::from_process(Process::spawn(command));
    let old = workers(server.pid(), 2);

    // From now on the supervisor may not fork at all: with a limit of one
    // process, whatever else its user runs, every fork() fails with EAGAIN.
    set_process_limit(server.pid(), uid, 1);
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
    set_process_limit(server.pid(), uid, limit);
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
    assert_eq!(
        count_lines(&server.process().stdout(), "started"),
        4,
        "{}",
        server.process().stdout()
    );
}

// ---------------------------------------------------------------------------
// Out of descriptors (issue 10, item 5).

/// A worker at its descriptor limit cannot accept the client that waits for
/// it. It says so and pauses, longer and longer, instead of retrying at once
/// at full speed; once it may open a descriptor again, it serves the client.
pub fn a_worker_out_of_descriptors_pauses_instead_of_spinning(program: &str) {
    if !kernel::wchan_is_readable() {
        skip("/proc/<pid>/wchan is not readable: cannot see a worker wait");
        return;
    }
    let mut server = start(program, 1);
    let worker = *workers(server.pid(), 1).first().expect("one worker");
    // Not one descriptor more than it has open: accept() gets EMFILE.
    limits::set_descriptor_limit(worker, lowest_free_descriptor(worker));
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

/// The lowest descriptor number `pid` has free, which its next accept()
/// would get: with its limit set to that, it has no descriptor left. It is
/// not always `open_fds(pid)`: a process may inherit descriptors with gaps
/// below them (cargo's jobserver pipe, say).
fn lowest_free_descriptor(pid: u32) -> u64 {
    let open: BTreeSet<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the worker's descriptors")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|fd| !open.contains(fd)).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// One message, one write (issue 10, item 12).

/// How many segments carrying data `stream` has received so far
/// (`tcpi_data_segs_in` of TCP_INFO, see tcp(7)).
///
/// The kit's `procfs::write_calls` cannot tell how many writes a server made
/// to a socket: `/proc/<pid>/io` counts write(2) calls, but a `TcpStream`
/// writes with send(2) (`sendto` with `MSG_NOSIGNAL`, so that a closed
/// connection gives an error rather than SIGPIPE), which it does not count.
/// What the reader cares about is on the wire anyway: a message written in
/// pieces leaves in several segments.
pub fn data_segments_received(stream: &TcpStream) -> u32 {
    // SAFETY: tcp_info is a plain C struct of integers, for which all zero
    // bytes are a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is
    // that big, and the new length into `len`; the descriptor is open for as
    // long as `stream` is borrowed.
    let result = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(result, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info.tcpi_data_segs_in
}

/// The greeting arrives in one segment, and so does each echo: the worker
/// writes each message with one call.
pub fn each_reply_is_one_write(program: &str) {
    let server = start(program, 1);
    let worker = *workers(server.pid(), 1).first().expect("one worker");
    let mut client = server.connect();
    assert_eq!(client.read_greeting_pid(), worker);
    assert_eq!(
        data_segments_received(client.stream()),
        1,
        "segments for one greeting"
    );
    for line in ["hello", "again"] {
        let before = data_segments_received(client.stream());
        client.send_line(line);
        assert_eq!(client.read_line(), format!("{line}\n"));
        assert_eq!(
            data_segments_received(client.stream()),
            before + 1,
            "segments for one echo"
        );
    }
}

/// What a client sends never reaches the log raw: an escape sequence could
/// drive the operator's terminal, a newline could forge a log line. (The
/// pools log no client bytes at all; this keeps it so.)
pub fn client_bytes_never_reach_the_log(program: &str) {
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

/// A pipe for a server's stdout: the end the server writes to, and the end
/// the test may read from.
fn pipe() -> (OwnedFd, OwnedFd) {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    (write, read)
}

/// Starts `program` on a port of the test's choosing, with `stdout` as its
/// standard output and `workers` workers; waits until it listens.
fn start_with_stdout(
    program: &str,
    workers: usize,
    stdout: OwnedFd,
) -> (Process, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(program);
    command
        .arg(addr.to_string())
        .env("MAX_PROCS", workers.to_string());
    let process = Process::spawn_with_stdout(command, Stdio::from(stdout));
    drop(connect_when_listening(addr));
    (process, addr)
}

/// Kills the one worker of `server` `times` times, each time waiting for its
/// replacement: every death and every start is a line of the supervisor's
/// log. Returns the last worker.
fn churn_workers(server: u32, times: usize) -> u32 {
    let mut worker = only_worker(server, None);
    for _ in 0..times {
        signal(worker, Signal::SIGKILL);
        worker = only_worker(server, Some(worker));
    }
    worker
}

/// The one live worker of `server`, once it is not `not`.
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
pub fn a_closed_stdout_does_not_stop_the_pool(program: &str) {
    let (write, read) = pipe();
    drop(read);
    let (process, addr) = start_with_stdout(program, 1, write);
    let worker = churn_workers(process.pid(), 3);
    let mut client = testkit::Client::connect(addr);
    assert_eq!(client.read_greeting_pid(), worker);
    process.signal(Signal::SIGTERM);
    let finished = process.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
}

/// With stdout a pipe that nobody reads, the supervisor goes on replacing
/// workers long after the pipe is full, and stops on SIGTERM.
pub fn a_full_stdout_does_not_stop_the_supervisor(program: &str) {
    let (write, read) = pipe();
    // The smallest pipe the kernel makes, one page, so that a few dozen
    // lines fill it (the default is 64 KiB).
    fcntl(&write, FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
    let (process, addr) = start_with_stdout(program, 1, write);
    // Each death and start logs about 60 bytes: 100 of them overfill it.
    let worker = churn_workers(process.pid(), 100);
    let mut client = testkit::Client::connect(addr);
    assert_eq!(client.read_greeting_pid(), worker);
    process.signal(Signal::SIGTERM);
    let finished = process.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    drop(read);
}

// ---------------------------------------------------------------------------
// Listening sockets, seen from /proc/net/tcp.

/// The inode of the socket behind descriptor `fd` of `pid`.
pub fn socket_inode(pid: u32, fd: u32) -> u64 {
    let target = procfs::fd_target(pid, fd)
        .unwrap_or_else(|| panic!("process {pid} has no descriptor {fd}"));
    target
        .to_str()
        .and_then(|text| text.strip_prefix("socket:["))
        .and_then(|text| text.strip_suffix(']'))
        .and_then(|inode| inode.parse().ok())
        .unwrap_or_else(|| panic!("descriptor {fd} of {pid} is {target:?}"))
}

/// How many connections wait in the accept queue of each socket listening on
/// `port`, by the socket's inode: for a listening socket, `/proc/net/tcp`
/// shows the queue's length as its `rx_queue` (see proc(5)).
pub fn accept_queues(port: u16) -> Vec<(u64, usize)> {
    let wanted = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    if fields.len() < 10
                        || !fields[1].ends_with(&wanted)
                        || fields[3] != "0A"
                    {
                        return None;
                    }
                    let (_, queued) = fields[4].split_once(':')?;
                    Some((
                        fields[9].parse().ok()?,
                        usize::from_str_radix(queued, 16).ok()?,
                    ))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
