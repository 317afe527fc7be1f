//! Listing 3-2 behaves as chapter 3 says: it answers one client's line with
//! `OK .. <line>`, once, closes, and exits; it bounds the line, and reports
//! what goes wrong in one line.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::pipes::{UnreadPipe, closed_pipe};
use testkit::{
    Client, Process, Server, Transcript, connect_when_listening, conventions,
    kernel, limits, timeout, unused_port,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch03-tcp-server-once");

/// Starts the server, connects, and waits until it has accepted us.
fn connected() -> (Server, Client) {
    let mut server = Server::start(SERVER);
    let client = server.connect();
    assert_eq!(
        server.next_line(),
        format!("client {} is now connected", client.local_addr())
    );
    (server, client)
}

#[test]
fn answers_one_line_once_and_exits() {
    let (server, mut client) = connected();
    client.send_line("hello");
    assert_eq!(client.read_line(), "OK .. hello\n");
    // The reply comes once (the original wrote it twice), then the end.
    client.expect_closed();
    let mut process = server.into_process();
    assert!(process.wait_exit(timeout()).success());
}

#[test]
fn session_matches_the_book() {
    let (server, mut client) = connected();
    let client_addr = client.local_addr();
    client.send_line("hello");
    client.read_line();
    let port = server.port();
    let run = server.into_process().finish();
    assert_eq!(run.code(), 0);
    assert_eq!(
        run.stdout,
        format!(
            "listening on 127.0.0.1:{port}\nclient {client_addr} is now connected\n"
        )
    );
    Transcript::new("transcripts/one-client.console")
        .command("cargo run -p ch03-tcp-server-once")
        .output(&run.stdout)
        .show_port(port, 5000)
        .check();
}

#[test]
fn after_its_one_client_nobody_else_is_answered() {
    let (server, mut client) = connected();
    let addr = server.addr();
    client.send_line("first");
    client.read_line();
    server.into_process().finish();
    let refused = Client::try_connect(addr).err().map(|err| err.kind());
    assert_eq!(refused, Some(ErrorKind::ConnectionRefused));
}

#[test]
fn a_telnet_line_ending_is_not_part_of_the_line() {
    let (_server, mut client) = connected();
    client.send(b"hello\r\n");
    assert_eq!(client.read_line(), "OK .. hello\n");
}

#[test]
fn an_empty_line_gets_an_empty_answer() {
    let (_server, mut client) = connected();
    client.send(b"\n");
    assert_eq!(client.read_to_end(), b"OK .. \n");
}

#[test]
fn a_line_ended_by_a_half_close_is_answered() {
    // shutdown(Write): the server reads the end of the stream instead of a
    // newline, and we can still read its answer.
    let (_server, mut client) = connected();
    client.send(b"no newline");
    client.shutdown_write();
    assert_eq!(client.read_to_end(), b"OK .. no newline\n");
}

#[test]
fn bytes_that_are_not_utf8_come_back_unchanged() {
    let (_server, mut client) = connected();
    client.send(b"caf\xe9 \xff\n");
    assert_eq!(client.read_to_end(), b"OK .. caf\xe9 \xff\n");
}

#[test]
fn a_line_of_1024_bytes_is_answered() {
    let (_server, mut client) = connected();
    let line = "x".repeat(1024);
    client.send_line(&line);
    assert_eq!(client.read_line(), format!("OK .. {line}\n"));
}

#[test]
fn a_longer_line_gets_an_error_and_the_server_reads_no_further() {
    let (server, mut client) = connected();
    client.send(&[b'x'; 4000]);
    assert_eq!(client.read_line(), "ERROR line longer than 1024 bytes\n");
    // The server closed with our other bytes unread, so its kernel reset
    // the connection instead of ending it.
    let mut byte = [0u8; 1];
    let after = std::io::Read::read(&mut client.stream(), &mut byte);
    assert_eq!(
        after.map_err(|err| err.kind()),
        Err(ErrorKind::ConnectionReset)
    );
    let run = server.into_process().finish();
    assert_eq!(run.code(), 0);
    assert_eq!(
        run.stderr,
        format!(
            "client {} sent a line longer than 1024 bytes\n",
            client.local_addr()
        )
    );
}

#[test]
fn a_client_that_resets_in_the_middle_of_a_line_is_reported() {
    let (server, mut client) = connected();
    let client_addr = client.local_addr();
    client.send(b"half a li");
    client.reset();
    let run = server.into_process().finish();
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not read from {client_addr}: Connection reset by peer (os error 104)\n"
        )
    );
}

#[test]
fn a_silent_client_keeps_the_server_waiting() {
    // Nothing bounds how long the server waits for a line (chapter 3's
    // exercise adds a limit): it sleeps in read(), neither spinning nor
    // giving up.
    let (mut server, mut client) = connected();
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(300));
    assert!(!server.process().has_exited());
    // However late the line comes, it is answered; then, and only then,
    // the server exits and its port refuses.
    client.send_line("at last");
    assert_eq!(client.read_line(), "OK .. at last\n");
    client.expect_closed();
    let addr = server.addr();
    assert!(server.into_process().wait_exit(timeout()).success());
    let refused = Client::try_connect(addr).err().map(|err| err.kind());
    assert_eq!(refused, Some(ErrorKind::ConnectionRefused));
}

/// Starts the server on a free port with `stdout` as its standard output,
/// and connects to it as soon as it listens.
fn start_with_stdout(stdout: Stdio) -> (Process, Client) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(SERVER);
    command.arg(addr.to_string());
    let server = Process::spawn_with_stdout(command, stdout);
    (server, connect_when_listening(addr))
}

#[test]
fn a_log_nobody_reads_does_not_stop_it_answering() {
    // The pipe is full before the server starts, and nobody reads it: a
    // write to it would wait for ever.
    let unread = UnreadPipe::full();
    let (server, mut client) = start_with_stdout(unread.writer().into());
    client.send_line("hello");
    assert_eq!(client.read_line(), "OK .. hello\n");
    assert_eq!(server.finish().code(), 0);
}

#[test]
fn a_log_nobody_can_read_does_not_kill_it() {
    // Like `| head -1` once head has exited: writing the log fails with
    // EPIPE, where println! would panic.
    let (server, mut client) = start_with_stdout(closed_pipe().into());
    client.send_line("hello");
    assert_eq!(client.read_line(), "OK .. hello\n");
    let run = server.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, "");
}

#[test]
fn out_of_descriptors_it_says_so_with_its_own_address_and_exits() {
    // The smallest descriptor limit under which the server can listen: it
    // has then none left for a connection.
    let (process, addr) = (3..64)
        .find_map(|limit| {
            let mut command = Command::new(SERVER);
            command.arg("127.0.0.1:0");
            limits::limit_descriptors(&mut command, limit);
            let mut process = Process::spawn(command);
            let line = process.next_line_within(timeout())?;
            let addr = line.strip_prefix("listening on ")?.parse().ok()?;
            Some((process, addr))
        })
        .expect("a limit under which the server listens");
    // Linux sets the descriptor aside before accept() waits, and fails at
    // once; a kernel that waits for a connection first gets one.
    let _ = Client::try_connect(addr);
    let run = process.finish();
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "could not accept a connection on {addr}: \
             Too many open files (os error 24)\n"
        )
    );
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = Server::start(SERVER);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"], &["--help"]],
        "usage: ch03-tcp-server-once [ADDR]",
    );
}

#[test]
fn a_backlog_of_128_lets_129_clients_wait_while_it_serves_one() {
    // TcpListener::bind() listens with a backlog of 128, where the original
    // asks for 10. While the server waits for its one client's line, Linux
    // queues 129 more finished connections and drops the SYN of the next.
    let (server, _first) = connected();
    let waiting: Vec<Client> = (0..129).map(|_| server.connect()).collect();
    let next = std::net::TcpStream::connect_timeout(
        &server.addr(),
        Duration::from_millis(300),
    );
    assert!(next.is_err(), "a connection beyond the backlog was queued");
    drop(waiting);
}
