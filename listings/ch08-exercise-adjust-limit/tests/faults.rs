//! What Listing 8-1 survives, checked for Exercise 8-1 too: its starter and its
//! solution are Listing 8-1 plus the exercise, and must keep what the
//! listing does under faults (see the listing's `tests/faults.rs`). The
//! starter passes these tests; the exercise is `tests/adjust_limit.rs`.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::process::Command;
use std::time::Duration;

use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::Signal;
use testkit::{
    Client, Process, Server, connect_when_listening, limits, procfs, timeout,
    unused_port, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-exercise-adjust-limit");

/// Starts the server with MAX_PROCS set and reads its first two lines.
fn start(max_procs: usize) -> Server {
    let max_procs = max_procs.to_string();
    let mut server = Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs)],
    );
    assert_eq!(server.next_line(), format!("client slots: {max_procs}"));
    server
}

/// How many sockets whose own port is `port` some process still holds. A
/// socket no process holds any more (closed, and waiting out TCP's last
/// states, such as TIME_WAIT) shows inode 0 in /proc/net/tcp.
fn sockets_held_on(port: u16) -> usize {
    let local = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .map(|text| {
            text.lines()
                .skip(1)
                .filter(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    fields.len() > 9
                        && fields[1].ends_with(&local)
                        && fields[9] != "0"
                })
                .count()
        })
        .sum()
}

/// Whether `pid` runs (exists and is not a zombie).
fn is_running(pid: u32) -> bool {
    procfs::stat(pid).is_some_and(|process| process.state != 'Z')
}

#[test]
fn children_end_with_their_parent_even_when_it_is_killed() {
    for signal in [Signal::SIGKILL, Signal::SIGTERM] {
        let mut server = start(2);
        let (addr, group) = (server.addr(), server.pid());
        let mut client = server.connect();
        let child = client.read_greeting_pid();
        // In the middle of a session.
        client.send_line("hello");
        assert_eq!(client.read_line(), "hello\n");

        server.process().signal(signal);
        server.process().wait_exit(timeout());
        assert!(
            wait_until(timeout(), || !is_running(child)),
            "child {child} still serves after its parent got {signal}"
        );
        let left: Vec<u32> = procfs::group_members(group)
            .iter()
            .filter(|process| process.state != 'Z')
            .map(|process| process.pid)
            .collect();
        assert!(left.is_empty(), "left running: {left:?}");
        assert!(
            !matches!(client.try_read_line(), Ok(Some(_))),
            "the connection is still open"
        );
        assert_eq!(sockets_held_on(addr.port()), 0);
        TcpListener::bind(addr).expect("bind the port again");
    }
}

/// The lowest descriptor number `pid` has free: the one its next socket
/// would get. A limit of that many descriptors leaves it none.
fn lowest_free_descriptor(pid: u32) -> u64 {
    let open: Vec<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the descriptors")
        .flatten()
        .filter_map(|fd| fd.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|fd| !open.contains(fd)).unwrap_or(0)
}

/// The standard-error lines that say a client could not be taken on.
fn failures(server: &mut Server) -> usize {
    server
        .process()
        .stderr()
        .lines()
        .filter(|line| line.starts_with("could not "))
        .count()
}

#[test]
fn out_of_descriptors_the_parent_pauses_and_serves_again_when_it_can() {
    let mut server = start(2);
    let pid = server.pid();
    let limit = lowest_free_descriptor(pid);
    limits::set_descriptor_limit(pid, limit);

    let mut client = server.connect();
    server.process().wait_for_stderr("Too many open files");
    let before = failures(&mut server);
    let used = procfs::cpu_used_during(pid, Duration::from_secs(1));
    let logged = failures(&mut server) - before;
    assert!(used < Duration::from_millis(100), "used {used:?} of CPU");
    assert!(logged <= 10, "{logged} lines of log in a second");

    limits::set_descriptor_limit(pid, limit + 16);
    client.read_greeting_pid();
    client.send_line("served");
    assert_eq!(client.read_line(), "served\n");
}

/// A pipe made as small as the kernel allows (a page): a few dozen lines of
/// log fill it. Returns its read end, its write end and its size.
fn small_pipe() -> (OwnedFd, OwnedFd, usize) {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    let size =
        fcntl(&writer, FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
    (reader, writer, size as usize)
}

#[test]
fn a_log_nobody_reads_neither_stops_nor_kills_the_server() {
    // A pipe that nobody reads, then one whose reader is gone.
    for reader_gone in [false, true] {
        let (reader, writer, size) = small_pipe();
        let reader = (!reader_gone).then_some(reader);
        let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
        let mut command = Command::new(SERVER);
        // Slots enough that no client is ever kept waiting or turned away.
        command.arg(addr.to_string()).env("MAX_PROCS", "100");
        let mut server =
            Process::spawn_with_stdout(command, File::from(writer).into());
        let mut first = connect_when_listening(addr);
        first.read_greeting_pid();
        drop(first);
        // Two lines of log of 30 bytes or more each: twice what the pipe
        // holds.
        for _ in 0..2 * size / 60 {
            let mut client = Client::connect(addr);
            client.read_greeting_pid();
            client.send_line("hello");
            assert_eq!(client.read_line(), "hello\n");
        }
        assert!(!server.has_exited(), "{}", server.stderr());
        drop(reader);
    }
}

#[test]
fn max_procs_is_read_as_in_listing_8_1() {
    for value in ["0", "two", "99999999999999999999999"] {
        let run = Process::run_with_env(
            SERVER,
            ["127.0.0.1:0"],
            &[("MAX_PROCS", value)],
            b"",
        );
        assert_eq!(run.code(), 2, "MAX_PROCS={value:?}");
        assert_eq!(run.stdout, "", "refused before it listens");
        assert_eq!(
            run.stderr,
            format!(
                "MAX_PROCS must be a number of processes, 1 or more, not \
                 {value:?}\n"
            )
        );
    }
}
