//! What chapter 1 asks of every server of this book ("What can go wrong"),
//! checked on this one: a log that nobody reads, or that nobody can read,
//! does not stop it, and running out of descriptors makes it wait instead
//! of spinning. The exercise itself is checked by
//! `caller_number.rs`.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use testkit::limits::set_descriptor_limit;
use testkit::procfs::cpu_used_during;
use testkit::{Client, Process, Server, connect_when_listening, unused_port};

const SERVER: &str = env!("CARGO_BIN_EXE_ch01-exercise-caller-number");

/// What a client says before the server answers: nothing, here.
fn ask(_client: &mut Client) {}

/// The server greets the client and hangs up. Returns how many bytes, at
/// least, the server logs for the call.
fn hear(mut client: Client) -> usize {
    let greeting = client.read_to_end();
    assert!(greeting.starts_with(b"Hello "), "{greeting:?}");
    format!("call from {}\n", client.local_addr()).len()
}

/// One conversation with the server, on a connected `client`.
fn talk(mut client: Client) -> usize {
    ask(&mut client);
    hear(client)
}

/// Starts the server on a free port with `stdout` as its standard output,
/// and talks to it once, as soon as it listens.
fn start_with_stdout(stdout: OwnedFd) -> (Process, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(SERVER);
    command.arg(addr.to_string());
    let server = Process::spawn_with_stdout(command, Stdio::from(stdout));
    talk(connect_when_listening(addr));
    (server, addr)
}

/// A pipe (read end, write end, capacity in bytes), as small as Linux
/// allows, one page, so that a few hundred lines fill it.
fn small_pipe() -> (OwnedFd, OwnedFd, usize) {
    let (read_end, write_end) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let _ = fcntl(&write_end, FcntlArg::F_SETPIPE_SZ(4096));
    let capacity = fcntl(&write_end, FcntlArg::F_GETPIPE_SZ).expect("size");
    (read_end, write_end, capacity as usize)
}

/// Whether the pipe is full: it has no room for another write.
fn is_full(write_end: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(write_end.as_fd(), PollFlags::POLLOUT)];
    poll(&mut fds, PollTimeout::ZERO) == Ok(0)
}

#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    // The test keeps the read end and never reads: the server's log fills
    // the pipe, and then a write to it would wait for ever.
    let (_unread, write_end, capacity) = small_pipe();
    let (mut server, addr) =
        start_with_stdout(write_end.try_clone().expect("dup"));
    // Enough clients to fill the pipe twice over with their lines.
    let mut logged = 0;
    while logged < 2 * capacity {
        logged += talk(Client::connect(addr));
    }
    assert!(is_full(&write_end));
    assert!(!server.has_exited());
}

#[test]
fn a_log_nobody_can_read_does_not_kill_the_server() {
    // Like `| head -1` once head has exited: every write to the pipe fails
    // with EPIPE, where println! would panic.
    let (read_end, write_end, _) = small_pipe();
    drop(read_end);
    let (mut server, addr) = start_with_stdout(write_end);
    for _ in 0..200 {
        talk(Client::connect(addr));
    }
    assert!(!server.has_exited());
    assert_eq!(server.stderr(), "");
}

/// The lowest descriptor number `pid` has free: the one its next socket
/// would get. (Not always the number it has open: a test may inherit
/// descriptors with gaps below them, and pass them on to the server.)
fn lowest_free_descriptor(pid: u32) -> u64 {
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..)
        .find(|fd| !open.contains(fd))
        .expect("a free descriptor")
}

#[test]
fn out_of_descriptors_it_waits_instead_of_spinning() {
    let mut server = Server::start(SERVER);
    let pid = server.pid();
    // No descriptor left for another socket. Two clients: Linux may have set
    // one aside already, for the accept() the server sleeps in, and then the
    // first client gets it and the second finds none.
    let limit = lowest_free_descriptor(pid);
    set_descriptor_limit(pid, limit);
    let mut clients = [server.connect(), server.connect()];
    for client in &mut clients {
        ask(client);
    }
    server.process().wait_for_stderr(
        "could not accept a call: Too many open files (os error 24)\n",
    );
    // A client waits in the queue. The server pauses between attempts
    // instead of retrying at once: it sleeps, and logs a few lines, not
    // thousands.
    let used = cpu_used_during(pid, Duration::from_secs(1));
    assert!(used < Duration::from_millis(100), "{used:?} of CPU in 1 s");
    let log = server.process().stderr();
    assert!(log.lines().count() <= 10, "log of 1 s:\n{log}");
    // With descriptors to spare again, every client is served.
    set_descriptor_limit(pid, limit + 16);
    for client in clients {
        hear(client);
    }
}
