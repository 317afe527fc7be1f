//! What Listing 5-1 does, and the server of this exercise must keep doing
//! (the starter passes these, since it is Listing 5-1): it makes room for a
//! new client when silent ones fill it, tells a client whose line is too
//! long why it must go, refuses limits it cannot serve before it listens,
//! pauses when it runs out of descriptors, and its log never stops it.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use testkit::{Client, Process, Server, connect_when_listening, unused_port};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-exercise-chat");
const WELCOME: &str = "Welcome to php socket server version 1.0 \n";
const FULL: &str = "Sorry, the server is full. Try again later.\n";
const IDLE: &str =
    "Sorry, the server is full and you have been idle too long. Goodbye.\n";
const TOO_LONG: &str = "Sorry, a line may be at most 1024 bytes. Goodbye.\n";

/// Connects a client and reads the two-line welcome.
fn welcomed(server: &Server) -> Client {
    let mut client = server.connect();
    assert_eq!(client.read_line(), WELCOME);
    client.read_line();
    client
}

/// Sends `line` and checks the reply.
fn round_trip(client: &mut Client, line: &str) {
    client.send_line(line);
    assert_eq!(client.read_line(), format!("OK ... {line}\n"));
}

#[test]
fn ten_silent_clients_make_room_for_an_eleventh_once_one_is_idle_too_long() {
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "10", "1"], &[]);
    let mut clients: Vec<Client> = Vec::new();
    let mut welcomed_at = Vec::new();
    let started = Instant::now();
    for _ in 0..10 {
        clients.push(welcomed(&server));
        welcomed_at.push(Instant::now());
    }
    // Too soon: nobody has been idle for a second. (A machine so busy that
    // it took half of it to get here skips this.)
    if started.elapsed() < Duration::from_millis(500) {
        let mut early = server.connect();
        assert_eq!(early.read_line(), FULL);
    }
    // The server counts idleness from before the welcome: a second after
    // it, the first client has been idle longer than that.
    let idle = welcomed_at[0] + Duration::from_secs(1);
    thread::sleep(idle.saturating_duration_since(Instant::now()));
    let mut eleventh = server.connect();
    assert_eq!(clients[0].read_line(), IDLE);
    clients[0].expect_closed();
    assert_eq!(eleventh.read_line(), WELCOME);
    eleventh.read_line();
    round_trip(&mut eleventh, "served");
}

#[test]
fn a_line_longer_than_the_limit_is_told_why_after_the_replies_it_was_owed() {
    let server = Server::start(SERVER);
    let mut client = welcomed(&server);
    let mut bytes = b"first\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 2000]);
    client.send(&bytes);
    assert_eq!(client.read_line(), "OK ... first\n");
    assert_eq!(client.read_line(), TOO_LONG);
    client.expect_closed();
}

#[test]
fn client_limits_it_cannot_serve_are_refused_before_listening() {
    // A number too large to hold panicked after `listening on`.
    for count in ["18446744073709551615", "0", "ten"] {
        let run = Process::run(SERVER, ["127.0.0.1:0", count], b"");
        assert_eq!(run.code(), 2, "{count}: {run:?}");
        assert_eq!(run.stdout, "", "{count}");
        assert!(
            run.stderr
                .starts_with("MAX_CLIENTS must be a number of clients"),
            "{count}: {}",
            run.stderr
        );
    }
    let run = Process::run(SERVER, ["127.0.0.1:0", "10", "0"], b"");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "MAX_IDLE_SECS must be a number of seconds, 1 or more, not \"0\"\n"
    );
}

/// How many of `pid`'s open descriptors are numbered below `limit`.
fn descriptors_below(pid: u32, limit: u64) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&fd| fd < limit)
        .count()
}

#[test]
fn out_of_descriptors_a_busy_server_tries_again_a_few_times_a_second() {
    // Had each line a client sends been a new try at accept(), each would
    // have failed and written a line of log: thousands a second.
    const LIMIT: u64 = 16;
    let mut command = Command::new(SERVER);
    command.args(["127.0.0.1:0", "100"]);
    // SAFETY: the closure runs in the child between fork and exec, and only
    // calls getrlimit(2) and setrlimit(2), which are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
            setrlimit(Resource::RLIMIT_NOFILE, LIMIT, hard)?;
            Ok(())
        });
    }
    let mut server = Server::from_process(Process::spawn(command));
    let room = LIMIT as usize - descriptors_below(server.pid(), LIMIT);
    let mut clients: Vec<Client> =
        (0..room).map(|_| welcomed(&server)).collect();
    let _waiting = server.connect();
    let failed = "could not accept a connection: Too many open files";
    server.process().wait_for_stderr(failed);
    let before = server.process().stderr().matches(failed).count();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        round_trip(&mut clients[0], "busy");
    }
    let failures = server.process().stderr().matches(failed).count() - before;
    assert!(failures <= 10, "{failures} failed accepts in a second");
}

/// Starts the server on a port of our choosing, with `stdout` as its
/// standard output; serves 100 clients one after the other, a line each
/// (some 70 bytes of log each), and checks that it is still there.
fn serves_with_stdout(stdout: OwnedFd) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(SERVER);
    command.arg(addr.to_string());
    let mut server = Process::spawn_with_stdout(command, Stdio::from(stdout));
    let mut client = connect_when_listening(addr);
    for number in 0..100 {
        assert_eq!(client.read_line(), WELCOME);
        client.read_line();
        round_trip(&mut client, &format!("client {number}"));
        drop(client);
        client = Client::connect(addr);
    }
    assert!(!server.has_exited(), "stderr: {}", server.stderr());
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    let (reader, writer) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
    drop(reader);
    serves_with_stdout(writer);
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    let (_unread, writer) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
    // The smallest pipe the kernel allows, one page.
    fcntl(&writer, FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
    serves_with_stdout(writer);
}
