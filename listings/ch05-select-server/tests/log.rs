//! Listing 5-1's log never stops or kills it: with its stdout a closed pipe
//! (`cargo run ... | head -1`), or a pipe nobody reads, it serves on.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use nix::fcntl::{FcntlArg, fcntl};
use testkit::{Client, Process, connect_when_listening, unused_port};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-select-server");

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

/// Serves `clients` clients one after the other, a line each: some 70
/// bytes of log per client.
fn serve_many(addr: SocketAddr, first: Client, clients: usize) {
    let mut client = first;
    for number in 0..clients {
        client.read_line();
        client.read_line();
        let line = format!("client {number}");
        client.send_line(&line);
        assert_eq!(client.read_line(), format!("OK ... {line}\n"));
        drop(client);
        client = Client::connect(addr);
    }
}

#[test]
fn a_closed_stdout_does_not_kill_the_server() {
    let (reader, writer) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
    drop(reader);
    let (mut server, addr, first) = start_with_stdout(writer);
    serve_many(addr, first, 100);
    assert!(!server.has_exited(), "stderr: {}", server.stderr());
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    let (_unread, writer) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
    // The smallest pipe the kernel allows, one page: 100 clients' log lines
    // are more than that.
    fcntl(&writer, FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
    let (mut server, addr, first) = start_with_stdout(writer);
    serve_many(addr, first, 100);
    assert!(!server.has_exited(), "stderr: {}", server.stderr());
}

#[test]
fn what_clients_send_never_reaches_the_log() {
    // An escape sequence would reach the operator's terminal, and a newline
    // could forge a line of log. The server logs addresses and reasons, and
    // no byte a client sent.
    let mut server = testkit::Server::start(SERVER);
    let mut client = server.connect();
    client.read_line();
    client.read_line();
    client.send(b"\x1b[31mred\nforged line\n");
    assert_eq!(client.read_line(), "OK ... \x1b[31mred\n");
    assert_eq!(client.read_line(), "OK ... forged line\n");
    drop(client);
    server.process().wait_for_stdout(" disconnected\n");
    let log = server.process().stdout();
    assert!(!log.contains('\x1b') && !log.contains("forged"), "{log}");
}
