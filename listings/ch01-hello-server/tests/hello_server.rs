//! Listing 1-1 behaves as chapter 1 says: it greets every caller by address,
//! one after another, hangs up, and reports what goes wrong in one line; and
//! neither its log nor a lack of descriptors stops it.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use testkit::limits::set_descriptor_limit;
use testkit::procfs::{cpu_used_during, stat};
use testkit::tcp_queues::queues;
use testkit::{
    Client, Process, Server, Transcript, connect_when_listening, conventions,
    timeout, unused_port, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch01-hello-server");

#[test]
fn greets_each_caller_by_address_and_hangs_up() {
    let mut server = Server::start(SERVER);
    for _ in 0..3 {
        let mut client = server.connect();
        let greeting = String::from_utf8(client.read_to_end())
            .expect("the greeting is text");
        let expected = format!(
            "Hello {}, you reached {}. Goodbye!\n",
            client.local_addr(),
            server.addr()
        );
        assert_eq!(greeting, expected);
        assert_eq!(
            server.next_line(),
            format!("call from {}", client.local_addr())
        );
    }
}

#[test]
fn session_matches_the_book() {
    let mut server = Server::start(SERVER);
    let mut output = format!("listening on {}\n", server.addr());
    for _ in 0..2 {
        server.connect().read_to_end();
        output.push_str(&server.next_line());
        output.push('\n');
    }
    Transcript::new("transcripts/two-calls.console")
        .command("cargo run -p ch01-hello-server")
        .output(&output)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn a_caller_that_hangs_up_before_its_greeting_does_not_stop_the_server() {
    let mut server = Server::start(SERVER);
    let pid = server.pid();
    // Stop the server, so that the call waits in the listen queue, and have
    // the caller reset it there (SO_LINGER 0). When the server goes on, it
    // accepts a connection that is already gone, and its write fails.
    server.process().signal(Signal::SIGSTOP);
    assert!(wait_until(timeout(), || {
        stat(pid).is_some_and(|stat| stat.state == 'T')
    }));
    let rude = server.connect();
    let rude_addr = rude.local_addr();
    let servers_end = || queues(server.addr(), rude_addr);
    assert!(wait_until(timeout(), || servers_end().is_some()));
    rude.reset();
    // The reset has arrived: the server's end is closed, out of the table.
    assert!(wait_until(timeout(), || servers_end().is_none()));
    server.process().signal(Signal::SIGCONT);

    assert_eq!(server.next_line(), format!("call from {rude_addr}"));
    server.process().wait_for_stderr(&format!(
        "could not write to {rude_addr}: \
         Connection reset by peer (os error 104)\n"
    ));
    let mut polite = server.connect();
    assert!(polite.read_line().starts_with("Hello "));
    assert_eq!(
        server.next_line(),
        format!("call from {}", polite.local_addr())
    );
}

/// Calls the server at `addr`, checks that it is greeted, and returns the
/// length of the line the server logs for the call.
fn call(addr: SocketAddr) -> usize {
    let mut client = Client::connect(addr);
    let greeting = client.read_to_end();
    assert!(greeting.starts_with(b"Hello "), "{greeting:?}");
    format!("call from {}\n", client.local_addr()).len()
}

/// Starts the server on a free port with `stdout` as its standard output,
/// and calls it once, as soon as it listens.
fn start_with_stdout(stdout: OwnedFd) -> (Process, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(SERVER);
    command.arg(addr.to_string());
    let server = Process::spawn_with_stdout(command, Stdio::from(stdout));
    let greeting = connect_when_listening(addr).read_to_end();
    assert!(greeting.starts_with(b"Hello "), "{greeting:?}");
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
    // Enough calls to fill the pipe twice over with their lines.
    let mut logged = 0;
    while logged < 2 * capacity {
        logged += call(addr);
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
        call(addr);
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
    // No descriptor left for another socket. Two calls: Linux may have set
    // one aside already, for the accept() the server sleeps in, and then the
    // first call gets it and the second finds none.
    let limit = lowest_free_descriptor(pid);
    set_descriptor_limit(pid, limit);
    let mut calls = [server.connect(), server.connect()];
    server
        .process()
        .wait_for_stderr("could not accept a call: Too many open files");
    // A call waits in the queue. The server pauses between attempts instead
    // of retrying at once: it sleeps, and logs a few lines, not thousands.
    let used = cpu_used_during(pid, Duration::from_secs(1));
    assert!(used < Duration::from_millis(100), "{used:?} of CPU in 1 s");
    let log = server.process().stderr();
    assert!(log.lines().count() <= 10, "log of 1 s:\n{log}");
    // With descriptors to spare again, every call is answered.
    set_descriptor_limit(pid, limit + 16);
    for call in &mut calls {
        assert!(call.read_line().starts_with("Hello "));
    }
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    let second =
        conventions::assert_address_in_use_is_reported(SERVER, server.addr());
    Transcript::new("transcripts/port-in-use.console")
        .command("cargo run -p ch01-hello-server")
        .output(&second.stderr)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn an_address_that_is_not_ours_is_reported_in_one_line() {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never one of this machine's addresses.
    let run = Process::run(SERVER, ["192.0.2.1:5000"], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        "could not bind 192.0.2.1:5000: Cannot assign requested address (os error 99)\n"
    );
}

#[test]
fn an_address_that_is_not_an_address_is_reported_in_one_line() {
    let run = Process::run(SERVER, ["localhost:http"], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        "could not bind localhost:http: invalid port value\n"
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"], &["--help"]],
        "usage: ch01-hello-server [ADDR]",
    );
}

#[test]
fn callers_who_dial_at_once_wait_in_the_queue_and_are_all_answered() {
    // All three connect before the server accepts any: the kernel completes
    // the handshakes and queues them (the listen backlog) until accept().
    let server = Server::start(SERVER);
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for client in &mut clients {
        assert!(client.read_line().starts_with("Hello "));
        client.expect_closed();
    }
}
