//! Listing 3-5 behaves as chapter 3 says: it sends each line of stdin, prints
//! each reply line, and says clearly when the server hangs up early, mid-line
//! or with a reset.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;

use testkit::{
    Client, Finished, Process, Server, Transcript, conventions, timeout,
    unused_port,
};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch03-echo-client");

fn echo_server() -> Server {
    Server::start(testkit::bin("ch03-echo-server"))
}

fn run(addr: SocketAddr, stdin: &[u8]) -> Finished {
    Process::run(CLIENT, [addr.to_string()], stdin)
}

/// A stand-in server: accepts one connection, reads one line, and hands the
/// connection to `then`.
fn stand_in(then: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_read_timeout(Some(timeout())).expect("timeout");
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            then(stream);
        }
    });
    addr
}

#[test]
fn prints_the_echo_of_every_line() {
    let server = echo_server();
    let run = run(server.addr(), b"hello\nworld\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "hello\nworld\n");
    Transcript::new("transcripts/two-lines.console")
        .command("printf 'hello\\nworld\\n' | cargo run -p ch03-echo-client")
        .output(&run.stdout)
        .check();
}

#[test]
fn a_last_line_without_a_newline_is_sent_with_one() {
    let server = echo_server();
    let run = run(server.addr(), b"first\nlast");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "first\nlast\n");
}

#[test]
fn an_empty_line_is_sent_and_its_empty_echo_printed() {
    let server = echo_server();
    let run = run(server.addr(), b"before\n\nafter\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "before\n\nafter\n");
}

#[test]
fn bytes_that_are_not_utf8_go_out_and_come_back_unchanged() {
    let server = echo_server();
    let sent = b"caf\xe9 \xff\xfe\n";
    let run = Process::run(CLIENT, [server.addr().to_string()], sent);
    assert_eq!(run.code(), 0, "{run:?}");
    // Finished holds text; the bytes that are not UTF-8 show as U+FFFD, in
    // the same places as in what we sent.
    assert_eq!(run.stdout, String::from_utf8_lossy(sent));
}

#[test]
fn a_reply_line_longer_than_the_limit_is_printed_and_reported() {
    // 64 KiB without a newline: the client stops reading there.
    let addr = stand_in(|mut stream| {
        let _ = stream.write_all(&vec![b'r'; 100 * 1024]);
    });
    let run = run(addr, b"hello\n");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", "r".repeat(64 * 1024)));
    assert_eq!(
        run.stderr,
        format!("{addr} sent a reply line longer than 65536 bytes\n")
    );
}

#[test]
fn works_with_the_one_line_server_too() {
    let server = Server::start(testkit::bin("ch03-tcp-server-once"));
    let run = run(server.addr(), b"hello\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "OK .. hello\n");
}

#[test]
fn a_reply_cut_off_mid_line_is_printed_and_reported() {
    // Where PHP_NORMAL_READ gives up with "unable to read from socket", the
    // client shows what came and says why it is incomplete.
    let addr = stand_in(|mut stream| {
        stream.write_all(b"no newline here").expect("write");
    });
    let run = run(addr, b"hello\n");
    assert_eq!(run.code(), 1);
    assert_eq!(run.stdout, "no newline here\n");
    assert_eq!(
        run.stderr,
        format!("{addr} closed the connection in the middle of a line\n")
    );
}

#[test]
fn a_server_that_hangs_up_without_a_reply_is_reported() {
    let addr = stand_in(drop);
    let run = run(addr, b"hello\n");
    assert_eq!(run.code(), 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!("{addr} closed the connection without a reply\n")
    );
}

#[test]
fn a_reset_is_reported_in_one_line() {
    let addr = stand_in(|stream| Client::from_stream(stream).reset());
    let run = run(addr, b"hello\n");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not read from {addr}: Connection reset by peer (os error 104)\n"
        )
    );
}

#[test]
fn an_over_long_line_gets_the_servers_error_and_the_conversation_ends() {
    let server = echo_server();
    let mut stdin = vec![b'x'; 2000];
    stdin.extend_from_slice(b"\nnever echoed\n");
    let run = run(server.addr(), &stdin);
    assert_eq!(run.stdout, "ERROR line longer than 1024 bytes\n");
    // The server hung up, so sending or reading the next line fails.
    assert_eq!(run.code(), 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // Like `| head -0`: nobody can read the replies, and printing the first
    // fails with EPIPE. The client says so and fails; it does not panic.
    let server = echo_server();
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"hello\n",
        "could not print the reply",
    );
}

#[test]
fn a_refused_connection_is_reported_in_one_line() {
    // No input: the client gives up before it reads any.
    let addr: SocketAddr = ([127, 0, 0, 1], unused_port()).into();
    let run = run(addr, b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not connect to {addr}: Connection refused (os error 111)\n"
        )
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        CLIENT,
        &[&["127.0.0.1:5000", "extra"]],
        "usage: ch03-echo-client [ADDR]",
    );
}
