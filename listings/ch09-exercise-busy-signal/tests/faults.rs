//! What Listing 9-1 survives, checked for Exercise 9-1 too: its starter and its
//! solution are Listing 9-1 plus the exercise, and must keep what the
//! listing does under faults (see the listing's `tests/faults.rs`). The
//! starter passes these tests; the exercise is `tests/busy_signal.rs`.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;
use nix::sys::signal::Signal;
use testkit::{
    Client, Process, Server, connect_when_listening, limits, procfs, timeout,
    unused_port, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-exercise-busy-signal");

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
/// segment (std's TcpStream writes with send(2), which /proc/<pid>/io does
/// not count).
#[test]
fn each_reply_arrives_in_one_segment() {
    let server = start(2);
    let mut client = server.connect();
    client.read_greeting_pid();
    assert_eq!(data_segments_received(&client), 1, "the greeting");
    client.send_line("hello");
    assert_eq!(client.read_line(), "hello\n");
    assert_eq!(data_segments_received(&client), 2, "the echo");
}

/// The flags of the server's listening socket, from
/// /proc/<pid>/fdinfo/<fd> (octal, as open(2) names them).
fn listener_flags(pid: u32, port: u16) -> u32 {
    // The listening socket's inode, from /proc/net/tcp (state 0A).
    let local = format!(":{port:04X}");
    let inode = fs::read_to_string("/proc/net/tcp")
        .expect("read /proc/net/tcp")
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| {
            fields.len() > 9 && fields[1].ends_with(&local) && fields[3] == "0A"
        })
        .map(|fields| fields[9].to_string())
        .expect("the server listens");
    let target = format!("socket:[{inode}]");
    let fd = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the descriptors")
        .flatten()
        .find(|fd| {
            fs::read_link(fd.path())
                .is_ok_and(|link| link.to_string_lossy() == target)
        })
        .expect("the server holds its listener")
        .file_name();
    let fdinfo = fs::read_to_string(format!(
        "/proc/{pid}/fdinfo/{}",
        fd.to_string_lossy()
    ))
    .expect("read fdinfo");
    let flags = fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .expect("a flags line");
    u32::from_str_radix(flags.trim(), 8).expect("octal flags")
}

/// poll() may say a client waits who is gone by the time the parent
/// accepts (another process took it): a blocking accept() would then hang
/// the parent until the next client. Listing 9-1's tests make it happen;
/// here, the listener is checked to be non-blocking.
#[test]
fn the_listener_is_non_blocking() {
    let server = start(2);
    let flags = listener_flags(server.pid(), server.addr().port());
    assert_ne!(flags & libc::O_NONBLOCK as u32, 0, "flags {flags:o}");
}
