//! What the server around `read_frame` already does, starter and answer
//! alike, and must keep doing: it sends each frame back in one write, its
//! log never stops or kills it, and it pauses when it runs out of
//! descriptors instead of spinning.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{FcntlArg, fcntl};
use testkit::limits::set_descriptor_limit;
use testkit::procfs::cpu_used_during;
use testkit::{Client, Process, Server, connect_when_listening, unused_port};

const SERVER: &str = env!("CARGO_BIN_EXE_ch04-exercise-read-frame");

/// `payload` after its length.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// Sends a frame and checks that it comes back.
fn round_trip(client: &mut Client, payload: &[u8]) {
    let sent = frame(payload);
    client.send(&sent);
    assert_eq!(client.read_exact(sent.len()), sent);
}

/// How many segments with data in them `stream` has received, as the kernel
/// counts them (`tcpi_data_segs_in` of `TCP_INFO`, Linux 4.6 and later).
///
/// (The test kit's `procfs::write_calls` cannot count the server's writes:
/// `TcpStream::write` calls send(2), which `/proc/<pid>/io` leaves out.)
fn data_segments_received(stream: &TcpStream) -> u32 {
    use nix::libc;
    // SAFETY: tcp_info holds only integers, for which all zeros is a value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes, the size of `info`, into
    // `info`, and the new length into `len`; the descriptor is open, since
    // `stream` is borrowed.
    let result = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    assert_eq!(result, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info.tcpi_data_segs_in
}

#[test]
fn each_frame_goes_back_in_one_segment() {
    // A length and a payload in two writes are two segments, and with
    // Nagle's algorithm the second waits for the first to be acknowledged:
    // some 40 ms a round trip (chapter 4, Listing 4-5).
    let server = Server::start(SERVER);
    let mut client = server.connect();
    let before = data_segments_received(client.stream());
    for round in 0..10 {
        round_trip(&mut client, format!("frame {round}").as_bytes());
    }
    let after = data_segments_received(client.stream());
    assert_eq!(after - before, 10, "segments for 10 frames");
}

/// A pipe: (the end to read, the end to write). Close-on-exec, so that no
/// program another test starts meanwhile inherits it: a reading end kept
/// open there would keep the pipe from being closed.
fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe")
}

/// Starts the server on a port of our choosing, with `stdout` as its
/// standard output, and connects a first client once it listens.
fn start_with_stdout(stdout: OwnedFd) -> (Process, SocketAddr, Client) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(SERVER);
    command.arg(addr.to_string());
    let process = Process::spawn_with_stdout(command, Stdio::from(stdout));
    let client = connect_when_listening(addr);
    (process, addr, client)
}

/// Serves `clients` clients one after the other, a frame each: about 80
/// bytes of log per client.
fn serve_many(addr: SocketAddr, first: Client, clients: usize) {
    let mut client = first;
    for number in 0..clients {
        round_trip(&mut client, format!("client {number}").as_bytes());
        drop(client);
        client = Client::connect(addr);
    }
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    let (reader, writer) = pipe();
    drop(reader);
    let (mut server, addr, first) = start_with_stdout(writer);
    serve_many(addr, first, 100);
    assert!(!server.has_exited(), "stderr: {}", server.stderr());
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    let (_unread, writer) = pipe();
    // The smallest pipe the kernel allows, one page: 100 clients' log lines
    // are twice that.
    fcntl(&writer, FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
    let (mut server, addr, first) = start_with_stdout(writer);
    serve_many(addr, first, 100);
    assert!(!server.has_exited(), "stderr: {}", server.stderr());
}

/// The lowest descriptor number `pid` does not use: the one the kernel
/// gives it next. A limit of that number leaves it none. (Counting its open
/// descriptors is not enough: it may have inherited some with gaps below.)
fn lowest_free_descriptor(pid: u32) -> u64 {
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's /proc/<pid>/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..)
        .find(|fd| !open.contains(fd))
        .expect("a free descriptor")
}

#[test]
fn out_of_descriptors_the_server_pauses_and_serves_again_later() {
    let mut server = Server::start(SERVER);
    let pid = server.pid();
    // The lowest descriptor the server does not use, which the kernel would
    // give the next client. A client is served meanwhile, so that the server
    // is busy with it, not in accept(), when its limit becomes that number:
    // once the client leaves, accept() fails with EMFILE at once, and the
    // next connection stays in the queue.
    let lowest_free = lowest_free_descriptor(pid);
    let mut last_in = server.connect();
    round_trip(&mut last_in, b"the last one in");
    set_descriptor_limit(pid, lowest_free);
    drop(last_in);
    let mut waiting = server.connect();
    server
        .process()
        .wait_for_stderr("Too many open files (os error 24)\n");
    let lines_before = server.process().stderr().lines().count();
    let used = cpu_used_during(pid, Duration::from_secs(1));
    let lines = server.process().stderr().lines().count() - lines_before;
    assert!(
        used < Duration::from_millis(100),
        "out of descriptors, the server used {used:?} of CPU in one second"
    );
    // It tried again, with growing pauses: a few times, not thousands.
    assert!(lines <= 10, "{lines} lines of log in one second");
    let failure = format!(
        "could not accept a connection on {}: Too many open files (os \
         error 24)",
        server.addr()
    );
    let stderr = server.process().stderr();
    assert!(stderr.lines().all(|line| line == failure), "{stderr}");

    // Descriptors again: the waiting client is served within the timeout.
    set_descriptor_limit(pid, lowest_free + 16);
    round_trip(&mut waiting, b"served at last");
}
