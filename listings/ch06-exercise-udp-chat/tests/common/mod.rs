//! What the tests of a UDP server need beyond the test kit: a server whose
//! log the test reads through a bounded pipe, a server started on a port the
//! test chose (when nobody can read its `listening on` line), and a datagram
//! sent from another process's socket, which is what a forged sender
//! address looks like to the server.
//!
//! A UDP server that answers its own replies can write hundreds of megabytes
//! of log a second: the test keeps the first 64 KiB of a log and only counts
//! the rest, so that it survives the defect it looks for, and reports it.

#![allow(dead_code)] // each test file uses its own part of this

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nix::libc;
use testkit::{Process, procfs, timeout, wait_until};

/// How much of a server's log a test keeps.
const KEPT: usize = 64 * 1024;

#[derive(Default)]
struct Log {
    /// The first KEPT bytes.
    kept: Vec<u8>,
    /// How many bytes the server has written in all.
    total: usize,
}

/// A server started on `127.0.0.1:0` whose stdout is a pipe the test reads,
/// keeping at most 64 KiB of it.
pub struct LoggedServer {
    process: Process,
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl LoggedServer {
    pub fn start(program: &str) -> LoggedServer {
        let (reader, writer) = nix::unistd::pipe().expect("pipe");
        let mut command = Command::new(program);
        command.arg("127.0.0.1:0");
        let process = Process::spawn_with_stdout(command, Stdio::from(writer));
        let log = Arc::new(Mutex::new(Log::default()));
        let filler = Arc::clone(&log);
        // Reads until the server is gone (then its end of the pipe closes).
        thread::spawn(move || {
            let mut reader = File::from(reader);
            let mut chunk = [0u8; 8192];
            while let Ok(read @ 1..) = reader.read(&mut chunk) {
                let mut log = filler.lock().unwrap_or_else(|e| e.into_inner());
                log.total += read;
                let room = KEPT.saturating_sub(log.kept.len());
                log.kept.extend_from_slice(&chunk[..read.min(room)]);
            }
        });
        let mut server = LoggedServer {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let first = server.wait_for_lines(1).remove(0);
        server.addr = first
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("not `listening on <addr>`: {first:?}"));
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The complete lines of the log the test kept.
    pub fn lines(&self) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&log.kept);
        let complete = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
        complete.lines().map(str::to_string).collect()
    }

    /// How many bytes of log the server has written in all.
    pub fn log_size(&self) -> usize {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// Waits until the log has at least `count` lines, and returns them.
    pub fn wait_for_lines(&mut self, count: usize) -> Vec<String> {
        let logged = wait_until(timeout(), || self.lines().len() >= count);
        assert!(
            logged,
            "the server logged {:?} in {:?}, not {count} lines\nstderr: {}",
            self.lines(),
            timeout(),
            self.process.stderr()
        );
        self.lines()
    }
}

/// Checks that none of `servers` uses more than a little CPU, or writes
/// anything to its log, for one second: they are waiting, not answering
/// each other.
pub fn assert_quiet(servers: &[&LoggedServer]) {
    let before: Vec<_> = servers
        .iter()
        .map(|server| (procfs::cpu_time(server.pid()), server.log_size()))
        .collect();
    thread::sleep(Duration::from_secs(1));
    for (server, (cpu, log)) in servers.iter().zip(before) {
        let used = procfs::cpu_time(server.pid()).saturating_sub(cpu);
        let logged = server.log_size() - log;
        assert!(
            used < Duration::from_millis(100),
            "{} used {used:?} of CPU in a second, and logged {logged} bytes",
            server.addr()
        );
        assert_eq!(logged, 0, "{} went on logging", server.addr());
    }
}

/// A copy of the UDP socket of process `pid`, taken with pidfd_getfd(2): a
/// datagram the test sends through it leaves from that socket's address,
/// as a datagram whose sender an attacker forged would. An error says why
/// this system does not let the test take it (Linux before 5.6, or a
/// security policy that forbids it).
pub fn socket_of(pid: u32) -> Result<UdpSocket, String> {
    let fd = fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|err| format!("cannot list the descriptors of {pid}: {err}"))?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<RawFd>().ok())
        .find(|&fd| {
            procfs::fd_target(pid, fd as u32).is_some_and(|target| {
                target.to_string_lossy().starts_with("socket:")
            })
        })
        .ok_or_else(|| format!("process {pid} has no socket"))?;
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new
    // descriptor, or -1; it reads and writes none of our memory.
    let pidfd =
        unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if pidfd < 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!("pidfd_open({pid}) failed: {err}"));
    }
    // SAFETY: pidfd_open just returned this descriptor, and nothing else in
    // this process has it: the OwnedFd is its only owner, and closes it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: as pidfd_open: descriptors and flags in, a new descriptor out.
    let copy = unsafe {
        libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0)
    };
    if copy < 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!("pidfd_getfd({pid}, {fd}) failed: {err}"));
    }
    // SAFETY: pidfd_getfd just returned this new descriptor, ours alone; it
    // refers to a UDP socket, the server's.
    Ok(UdpSocket::from(unsafe {
        OwnedFd::from_raw_fd(copy as RawFd)
    }))
}

/// A loopback UDP port on which, a moment ago, nothing was bound.
pub fn unused_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("local_addr").port()
}

/// Starts `program` on a port the test chose, with `stdout` as its standard
/// output (a pipe nobody reads, say), and returns once it answers: nobody
/// may be there to read its `listening on` line.
pub fn start_with_stdout(
    program: &str,
    stdout: Stdio,
) -> (Process, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_udp_port()));
    let mut command = Command::new(program);
    command.arg(addr.to_string());
    let mut server = Process::spawn_with_stdout(command, stdout);
    // A socket of its own, so that late answers to its pings cannot be taken
    // for the answers the test waits for later.
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
    probe.connect(addr).expect("connect");
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let answered = wait_until(timeout(), || {
        assert!(
            !server.has_exited(),
            "the server exited: {}",
            server.stderr()
        );
        // Until it has bound its port, ping is refused (or lost).
        if probe.send(b"ping").is_err() {
            return false;
        }
        let mut reply = [0u8; 16];
        match probe.recv(&mut reply) {
            Ok(received) => &reply[..received] == b"OK ping",
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::WouldBlock
                ) =>
            {
                false
            }
            Err(err) => panic!("could not ping the server: {err}"),
        }
    });
    assert!(answered, "the server did not answer within {:?}", timeout());
    (server, addr)
}
