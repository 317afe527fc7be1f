//! The checks for exercise 10-1. They fail on the unchanged starter, which
//! SIGUSR2 kills, and pass once SIGUSR2 hands the listening socket to a new
//! process while the old workers finish their clients.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{Process, Server, procfs, timeout, wait_until};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-exercise-restart");

fn start() -> Server {
    Server::start_with(SERVER, ["127.0.0.1:0"], &[("MAX_PROCS", "2")])
}

/// The live children of `pid`, once there are `count` of them.
fn workers(pid: u32, count: usize) -> BTreeSet<u32> {
    let mut now = BTreeSet::new();
    let found = wait_until(timeout(), || {
        now = procfs::live_children(pid).iter().map(|c| c.pid).collect();
        now.len() == count
    });
    assert!(
        found,
        "process {pid} never had {count} workers; now: {now:?}"
    );
    now
}

/// Sends SIGUSR2 to `pid`, once its workers run (by then its supervisor
/// has blocked the signals it waits for), and returns the pid of the process
/// that takes over, from the line `SIGUSR2: process <pid> takes over`.
fn restart(server: &mut Server, pid: u32) -> u32 {
    workers(pid, 2);
    kill(Pid::from_raw(pid as i32), Signal::SIGUSR2).expect("send SIGUSR2");
    loop {
        let line = server.next_line();
        if let Some(rest) = line.strip_prefix("SIGUSR2: process ") {
            let new = rest.strip_suffix(" takes over").unwrap_or_else(|| {
                panic!("expected `SIGUSR2: process <pid> takes over`: {line}")
            });
            return new.parse().expect("a pid");
        }
    }
}

/// The sockets `pid` has open: `socket:[inode]` for each.
fn sockets(pid: u32) -> BTreeSet<PathBuf> {
    procfs::descriptors(pid)
        .into_values()
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .collect()
}

/// One client, start to end: connect, read the greeting, have a line
/// echoed. Returns the pid that greeted it, or what went wrong.
fn one_client(addr: SocketAddr) -> Result<u32, String> {
    let stream = TcpStream::connect_timeout(&addr, timeout())
        .map_err(|err| format!("connect: {err}"))?;
    stream
        .set_read_timeout(Some(timeout()))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(&stream);
    let mut greeting = String::new();
    reader
        .read_line(&mut greeting)
        .map_err(|err| format!("greeting: {err}"))?;
    let pid = greeting
        .strip_prefix("You are connected to process ")
        .and_then(|rest| rest.trim_end().parse().ok())
        .ok_or_else(|| format!("greeting: {greeting:?}"))?;
    (&stream)
        .write_all(b"ping\n")
        .map_err(|err| format!("send: {err}"))?;
    let mut echo = String::new();
    reader
        .read_line(&mut echo)
        .map_err(|err| format!("echo: {err}"))?;
    if echo != "ping\n" {
        return Err(format!("echo: {echo:?}"));
    }
    Ok(pid)
}

/// A client that connects again and again, one connection after another,
/// until told to stop; every connection must be served.
struct Caller {
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Result<BTreeSet<u32>, String>>,
}

impl Caller {
    fn start(addr: SocketAddr) -> Caller {
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let (served, stop) = (served.clone(), stop.clone());
            move || {
                let mut pids = BTreeSet::new();
                while !stop.load(Ordering::SeqCst) {
                    let attempt = served.load(Ordering::SeqCst) + 1;
                    let pid = one_client(addr)
                        .map_err(|err| format!("attempt {attempt}: {err}"))?;
                    pids.insert(pid);
                    served.fetch_add(1, Ordering::SeqCst);
                }
                Ok(pids)
            }
        });
        Caller {
            served,
            stop,
            thread,
        }
    }

    /// Waits until `more` more connections have been served.
    fn wait_for(&self, more: usize) {
        let target = self.served.load(Ordering::SeqCst) + more;
        let done = wait_until(timeout(), || {
            self.served.load(Ordering::SeqCst) >= target
                || self.thread.is_finished()
        });
        assert!(done, "no connection served for {:?}", timeout());
    }

    /// Stops, and returns the pids that served its connections.
    fn finish(self) -> BTreeSet<u32> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.join() {
            Ok(Ok(pids)) => pids,
            Ok(Err(failure)) => {
                panic!("a connection was not served: {failure}")
            }
            Err(_) => panic!("the caller thread panicked"),
        }
    }
}

#[test]
fn sigusr2_hands_the_socket_to_a_new_process_and_refuses_nobody() {
    let mut server = start();
    let old = server.pid();
    let old_workers = workers(old, 2);
    let listening = sockets(old);
    // A client served by an old worker, who stays through the restart.
    let mut kept = server.connect();
    assert!(old_workers.contains(&kept.read_greeting_pid()));
    let caller = Caller::start(server.addr());
    caller.wait_for(1);

    let new = restart(&mut server, old);
    assert_ne!(new, old, "the new process must be a new process");
    let new_workers = workers(new, 2);
    assert!(new_workers.is_disjoint(&old_workers));
    // The very same socket, not a new one on the same port.
    assert!(
        listening.is_subset(&sockets(new)),
        "process {new} has not the old listening socket {listening:?}"
    );
    caller.wait_for(3);

    // The old worker still serves its client, and the old process waits
    // for it.
    kept.send_line("still there?");
    assert_eq!(kept.read_line(), "still there?\n");
    assert!(
        !server.process().has_exited(),
        "the old process did not wait"
    );
    drop(kept);
    let status = server.process().wait_exit(timeout());
    assert!(status.success(), "the old process ended with {status}");
    for pid in old_workers {
        assert!(!procfs::is_running(pid), "old worker {pid} is still there");
    }

    // The socket stayed open: the caller is still being served, now by
    // the new workers alone.
    caller.wait_for(3);
    caller.finish();
    let latest: u32 =
        testkit::Client::connect(server.addr()).read_greeting_pid();
    assert!(new_workers.contains(&latest), "served by {latest}");
}

#[test]
fn the_new_process_can_restart_too() {
    let mut server = start();
    let old = server.pid();
    let first = restart(&mut server, old);
    workers(first, 2);
    let second = restart(&mut server, first);
    assert_ne!(second, first);
    let second_workers = workers(second, 2);
    // The first process leaves once its workers have.
    assert!(wait_until(timeout(), || !procfs::is_running(first)));
    let mut client = server.connect();
    assert!(second_workers.contains(&client.read_greeting_pid()));
}

#[test]
fn sigterm_stops_the_new_process_and_its_workers() {
    let mut server = start();
    let old = server.pid();
    let new = restart(&mut server, old);
    let new_workers = workers(new, 2);
    server.process().wait_for_stdout("all workers retired\n");
    kill(Pid::from_raw(new as i32), Signal::SIGTERM).expect("send SIGTERM");
    server
        .process()
        .wait_for_stdout("SIGTERM: stopping 2 workers\n");
    for pid in new_workers.into_iter().chain([new]) {
        assert!(
            wait_until(timeout(), || !procfs::is_running(pid)),
            "process {pid} is still running"
        );
    }
}

#[test]
fn a_listen_fd_that_is_not_a_listening_socket_is_refused() {
    // 0 is stdin, a pipe; 99 is not open.
    for fd in ["0", "99", "three"] {
        let mut command = Command::new(SERVER);
        command.arg("127.0.0.1:0").env("LISTEN_FD", fd);
        let mut process = Process::spawn(command);
        // Refused before it prints anything: its stdout closes unwritten.
        if let Some(line) = process.next_line_within(timeout()) {
            panic!("LISTEN_FD={fd} was taken: the server printed {line:?}");
        }
        let finished = process.finish();
        assert_eq!(finished.code(), 2, "LISTEN_FD={fd}: {finished:?}");
        assert!(
            finished.stderr.contains(&format!("LISTEN_FD={fd}")),
            "LISTEN_FD={fd}: {finished:?}"
        );
    }
}
