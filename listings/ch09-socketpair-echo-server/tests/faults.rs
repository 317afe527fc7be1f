//! Listing 9-1 under faults: its parent killed in the middle of a session,
//! no descriptor left, a log nobody reads, a client gone between poll() and
//! accept(), and a hostile client's bytes; and each reply in one write.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::Duration;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use testkit::{
    Client, Process, Server, connect_when_listening, limits, procfs, timeout,
    unused_port, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-socketpair-echo-server");

/// Starts the server with `max_procs` slots on an ephemeral port.
fn start(max_procs: usize) -> Server {
    Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs.to_string())],
    )
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
        // No orphan: nothing the server started still runs.
        let left: Vec<u32> = procfs::group_members(group)
            .iter()
            .filter(|process| process.state != 'Z')
            .map(|process| process.pid)
            .collect();
        assert!(left.is_empty(), "left running: {left:?}");
        // The client sees its connection end.
        assert!(
            !matches!(client.try_read_line(), Ok(Some(_))),
            "the connection is still open"
        );
        // Nothing holds the port: a new server can have it.
        assert_eq!(sockets_held_on(addr.port()), 0);
        TcpListener::bind(addr).expect("bind the port again");
    }
}

/// The lowest descriptor number `pid` has free: the one its next socket
/// would get. A limit of that many descriptors leaves it none: the limit
/// bounds the numbers of new descriptors, and some above it may be open
/// (inherited from whoever started the test, say).
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

    // Queued by the kernel; the parent has no descriptor to take it on.
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

/// Serves `count` clients one after the other, each a greeting and an
/// echoed line: two lines of log each, of 30 bytes or more.
fn serve_clients(addr: SocketAddr, count: usize) {
    let mut first = connect_when_listening(addr);
    first.read_greeting_pid();
    drop(first);
    for _ in 1..count {
        let mut client = Client::connect(addr);
        client.read_greeting_pid();
        client.send_line("hello");
        assert_eq!(client.read_line(), "hello\n");
    }
}

#[test]
fn a_log_nobody_reads_neither_stops_nor_kills_the_server() {
    // A pipe that nobody reads, then one whose reader is gone.
    for reader_gone in [false, true] {
        let (reader, writer, size) = small_pipe();
        let reader = (!reader_gone).then_some(reader);
        let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
        let mut command = Command::new(SERVER);
        command.arg(addr.to_string()).env("MAX_PROCS", "2");
        let mut server =
            Process::spawn_with_stdout(command, File::from(writer).into());
        // Twice as much log as the pipe holds.
        serve_clients(addr, 2 * size / 60);
        assert!(!server.has_exited(), "{}", server.stderr());
        drop(reader);
    }
}

#[test]
fn a_clients_bytes_never_reach_the_log() {
    let mut server = start(2);
    let mut client = server.connect();
    let child = client.read_greeting_pid();
    client.send(b"\x1b[31mred\nforged line\n");
    client.read_line();
    client.read_line();
    drop(client);
    server.next_line();
    assert_eq!(
        server.next_line(),
        format!(
            "child {child} done: client hung up after 2 lines (0 of 2 busy)"
        )
    );
    let log = server.process().stdout() + &server.process().stderr();
    assert!(!log.contains('\x1b') && !log.contains("forged"), "{log:?}");
}

/// How many segments with data this side of a connection has received
/// (`tcpi_data_segs_in` of TCP_INFO, see tcp(7)).
fn data_segments_received(client: &Client) -> u32 {
    let fd = client.stream().as_raw_fd();
    // SAFETY: all zeros is a valid tcp_info (plain integers).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, and sets
    // `len` to how many it wrote.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    assert_eq!(result, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info.tcpi_data_segs_in
}

/// Each reply is written at once, in one call, so it leaves in one TCP
/// segment. (Counting the server's write calls would say it more directly,
/// but std's TcpStream writes with send(2), which /proc/<pid>/io does not
/// count.) Three writes for one line, as `writeln!` straight onto the
/// stream makes, leave as two or three segments.
#[test]
fn each_reply_arrives_in_one_segment() {
    let server = start(2);
    let mut client = server.connect();
    client.read_greeting_pid();
    assert_eq!(data_segments_received(&client), 1, "the greeting");
    for (count, line) in [(2, "hello"), (3, "a second line")] {
        client.send_line(line);
        assert_eq!(client.read_line(), format!("{line}\n"));
        assert_eq!(data_segments_received(&client), count, "{line:?}");
    }
}

/// A copy of the server's listening socket, for this test: the same socket,
/// reached through a descriptor of our own (pidfd_getfd(2)), as another
/// process that accepts on it would have. `None` if the kernel refuses.
fn copy_of_listener(pid: u32, addr: SocketAddr) -> Option<TcpListener> {
    // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor,
    // which we then own, or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: a descriptor we have just opened, owned by nothing else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    for entry in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok())
        else {
            continue;
        };
        let fd: RawFd = fd;
        // SAFETY: pidfd_getfd takes a pidfd, a descriptor number and flags;
        // it returns a new descriptor of ours, or -1.
        let copy = unsafe {
            libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0)
        };
        if copy < 0 {
            continue;
        }
        // SAFETY: as above, a new descriptor owned by nothing else.
        let copy =
            TcpStream::from(unsafe { OwnedFd::from_raw_fd(copy as RawFd) });
        // Listening, on the server's address: bound there, and no peer.
        if copy.local_addr().ok() == Some(addr) && copy.peer_addr().is_err() {
            return Some(TcpListener::from(OwnedFd::from(copy)));
        }
    }
    None
}

/// Whether system call number `nr` is poll() or ppoll(), or the kernel
/// going on with one that a stop interrupted (restart_syscall).
fn is_poll(nr: u64) -> bool {
    #[cfg(target_arch = "x86_64")]
    if nr == libc::SYS_poll as u64 {
        return true;
    }
    [libc::SYS_ppoll, libc::SYS_restart_syscall].contains(&(nr as i64))
}

/// Stops `pid` with ptrace(2), the debuggers' system call, runs `meanwhile`,
/// then lets `pid` run until its next poll() returns with something ready,
/// and stops it right there, on its way out of the kernel: before it has
/// looked at what poll() said. The window between poll() and accept(),
/// microseconds long, is then as long as the test needs. Returns why not,
/// where this machine does not let the test trace the server.
#[cfg(target_env = "gnu")]
fn stop_after_ready_poll(
    pid: Pid,
    meanwhile: impl FnOnce(),
) -> Result<(), String> {
    use nix::sys::ptrace::{self, Options};
    use nix::sys::wait::{WaitStatus, waitpid};

    ptrace::seize(pid, Options::PTRACE_O_TRACESYSGOOD)
        .map_err(|errno| format!("cannot trace the server: {errno}"))?;
    ptrace::interrupt(pid).map_err(|errno| errno.to_string())?;
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::PtraceEvent(..)) => break,
            Ok(_) => continue,
            Err(errno) => return Err(errno.to_string()),
        }
    }
    meanwhile();
    let (mut signal, mut syscall) = (None, 0);
    loop {
        ptrace::syscall(pid, signal.take()).map_err(|e| e.to_string())?;
        match waitpid(pid, None).map_err(|errno| errno.to_string())? {
            WaitStatus::PtraceSyscall(_) => {
                let info =
                    ptrace::syscall_info(pid).map_err(|e| e.to_string())?;
                // SAFETY: the kernel filled in the half of the union that
                // `op` names: the call's number on entry, its result on exit.
                unsafe {
                    match info.op {
                        libc::PTRACE_SYSCALL_INFO_ENTRY => {
                            syscall = info.u.entry.nr
                        }
                        libc::PTRACE_SYSCALL_INFO_EXIT
                            if is_poll(syscall) && info.u.exit.sval > 0 =>
                        {
                            return Ok(());
                        }
                        _ => {}
                    }
                }
            }
            // A signal for the server: pass it on.
            WaitStatus::Stopped(_, sent) => signal = Some(sent),
            _ => {}
        }
    }
}

#[cfg(not(target_env = "gnu"))]
fn stop_after_ready_poll(
    _pid: Pid,
    _meanwhile: impl FnOnce(),
) -> Result<(), String> {
    Err("the test reads system calls with glibc's ptrace only".to_string())
}

#[test]
fn a_client_gone_between_poll_and_accept_does_not_hang_the_parent() {
    let mut server = start(2);
    let Some(other) = copy_of_listener(server.pid(), server.addr()) else {
        testkit::skip("pidfd_getfd(2) cannot copy the server's listener");
        return;
    };
    let mut first = server.connect();
    let child = first.read_greeting_pid();
    server.next_line();

    // The second client arrives while the server is stopped; poll() tells
    // the server about it; before the server accepts, another process
    // (this test) takes it.
    let pid = Pid::from_raw(server.pid() as i32);
    let addr = server.addr();
    let mut second = None;
    if let Err(why) = stop_after_ready_poll(pid, || {
        second = Some(Client::connect(addr));
    }) {
        testkit::skip(&why);
        return;
    }
    let (_taken, _) = other.accept().expect("the second client is queued");
    nix::sys::ptrace::detach(pid, None).expect("let the server go on");

    // A parent asleep in accept() would not hear its child end.
    first.send_line("quit");
    first.expect_closed();
    let heard = server.process().next_line_within(timeout());
    assert_eq!(
        heard.as_deref(),
        Some(
            format!(
                "child {child} done: client quit after 0 lines (0 of 2 busy)"
            )
            .as_str()
        ),
        "the parent did not hear its child end: asleep in accept()?"
    );
}
