//! Listing 5-2 behaves as chapter 5 says: it prints what the server sends
//! whenever it arrives, sends what is typed, and at the end of its input
//! half-closes and prints the server's last replies.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;

use testkit::pipes::closed_pipe;
use testkit::{Client, Process, Server, Transcript, conventions, unused_port};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch05-select-client");
const WELCOME: &str = "Welcome to php socket server version 1.0 \n\
                       Enter a message and press enter, and i shall reply back \n";

#[test]
fn a_piped_session_with_the_books_server_matches_the_book() {
    let server = Server::start(testkit::bin("ch05-select-server"));
    let run = Process::run(
        CLIENT,
        [server.addr().to_string()],
        b"hello\nhow are you?\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("{WELCOME}OK ... hello\nOK ... how are you?\n")
    );
    assert_eq!(run.stderr, "");
    Transcript::new("transcripts/piped.console")
        .command("printf 'hello\\nhow are you?\\n' | cargo run -p ch05-select-client")
        .output(&run.stdout)
        .check();
}

#[test]
fn a_long_pipe_is_relayed_whole_without_the_server_dropping_the_client() {
    // Replies are longer than the lines they answer. A client that blocked in
    // write() while they piled up would stop reading them; once the kernel's
    // buffers were full, the server would drop it (MAX_UNSENT). 3 million
    // lines (21 MB) are far more than the buffers hold.
    let server = Server::start(testkit::bin("ch05-select-server"));
    let lines = 3_000_000;
    let input: String = (1..=lines).map(|n| format!("{n}\n")).collect();
    let run =
        Process::run(CLIENT, [server.addr().to_string()], input.as_bytes());
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2 + lines);
    assert!(
        run.stdout
            .ends_with(&format!("OK ... {}\nOK ... {lines}\n", lines - 1))
    );
}

#[test]
fn replies_are_printed_while_the_user_is_still_typing() {
    let server = Server::start(testkit::bin("ch05-select-server"));
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    let mut client = Process::spawn(command);
    assert_eq!(
        client.next_line(),
        "Welcome to php socket server version 1.0 "
    );
    client.next_line();
    for line in ["first", "second"] {
        client.write_stdin(format!("{line}\n").as_bytes());
        assert_eq!(client.next_line(), format!("OK ... {line}"));
    }
    client.close_stdin();
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
}

#[test]
fn what_the_server_sends_is_printed_even_while_nothing_is_typed() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let mut command = Command::new(CLIENT);
    command.arg(addr.to_string());
    let mut client = Process::spawn(command);
    let (stream, _) = testkit::accept(&listener);
    let mut server_side = Client::from_stream(stream);

    // stdin stays open and silent; the server speaks first, twice.
    server_side.send(b"the server speaks first\n");
    assert_eq!(client.next_line(), "the server speaks first");
    server_side.send(b"and again\n");
    assert_eq!(client.next_line(), "and again");

    // The server hangs up while the user could still type: the client says so.
    drop(server_side);
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, format!("{addr} closed the connection\n"));
}

#[test]
fn at_the_end_of_input_the_client_half_closes_and_still_prints_the_last_reply()
{
    // A stand-in server that answers only after it has read the end of the
    // stream: a client that closed instead of half-closing would miss it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let server = thread::spawn(move || {
        let (mut stream, _) = testkit::accept(&listener);
        let mut received = Vec::new();
        stream.read_to_end(&mut received).expect("read to the end");
        stream
            .write_all(
                format!("you sent {} bytes\n", received.len()).as_bytes(),
            )
            .expect("write");
    });
    let run = Process::run(CLIENT, [addr.to_string()], b"twelve bytes");
    server.join().expect("the stand-in server");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "you sent 12 bytes\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn a_full_server_is_reported_and_the_session_matches_the_book() {
    let server = Server::start_with(
        testkit::bin("ch05-select-server"),
        ["127.0.0.1:0", "1"],
        &[],
    );
    let mut first = server.connect();
    first.read_line();
    // stdin stays open, as when the reader runs the client in a terminal.
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    let run = Process::spawn(command).finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "Sorry, the server is full. Try again later.\n");
    assert_eq!(
        run.stderr,
        format!("{} closed the connection\n", server.addr())
    );
    Transcript::new("transcripts/full.console")
        .command("cargo run -p ch05-select-client")
        .output(&run.stdout)
        .output(&run.stderr)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn a_refused_connection_is_reported_in_one_line() {
    let addr = format!("127.0.0.1:{}", unused_port());
    let run = Process::run(CLIENT, [&addr], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not connect to {addr}: Connection refused (os error 111)\n"
        )
    );
}

#[test]
fn a_reset_from_the_server_is_reported_in_one_line() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let mut command = Command::new(CLIENT);
    command.arg(addr.to_string());
    let client = Process::spawn(command);
    let (stream, _): (TcpStream, _) = testkit::accept(&listener);
    Client::from_stream(stream).reset();
    let run = client.finish();
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not read from {addr}: Connection reset by peer (os error 104)\n"
        )
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        CLIENT,
        &[&["--help"], &["127.0.0.1:5000", "extra"]],
        "usage: ch05-select-client [ADDR]",
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // `cargo run -p ch05-select-client | head -1`: once head has gone,
    // printing a reply fails with EPIPE; println! would have panicked.
    let server = Server::start(testkit::bin("ch05-select-server"));
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    let client = Process::spawn_with_stdout(command, closed_pipe().into());
    let run = client.finish();
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "could not print the reply: Broken pipe (os error 32)\n"
    );
}
