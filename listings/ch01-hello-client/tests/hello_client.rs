//! Listing 1-2 behaves as chapter 1 says: it prints everything the server
//! sends until the server hangs up, and reports failures in one line.

use std::io::Write;
use std::net::TcpListener;
use std::process::Command;
use std::thread;

use testkit::{Process, Server, Transcript, conventions, unused_port};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch01-hello-client");

#[test]
fn prints_the_greeting_of_the_books_server() {
    let server = Server::start(testkit::bin("ch01-hello-server"));
    let mut transcript = Transcript::new("transcripts/call.console")
        .show_port(server.port(), 5000);
    for _ in 0..2 {
        let run = Process::run(CLIENT, [server.addr().to_string()], b"");
        assert_eq!(run.code(), 0, "{run:?}");
        assert!(run.stdout.starts_with("Hello 127.0.0.1:"), "{run:?}");
        assert!(run.stdout.ends_with(&format!(
            ", you reached {}. Goodbye!\n",
            server.addr()
        )));
        transcript = transcript
            .command("cargo run -p ch01-hello-client")
            .output(&run.stdout);
    }
    transcript.check();
}

/// A stand-in server: accepts one connection and hands it to `serve`.
fn stand_in(
    serve: impl FnOnce(std::net::TcpStream) + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr").to_string();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            serve(stream);
        }
    });
    addr
}

#[test]
fn prints_every_byte_until_the_server_hangs_up() {
    // Several writes arrive as one stream; some bytes are not UTF-8.
    let addr = stand_in(|mut stream| {
        for part in [
            &b"first part, "[..],
            b"second part, ",
            b"\xff\xfe raw bytes\n",
        ] {
            stream.write_all(part).expect("write");
            stream.flush().expect("flush");
        }
    });
    let run = Process::run(CLIENT, [&addr], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        String::from_utf8_lossy(
            b"first part, second part, \xff\xfe raw bytes\n"
        )
    );
}

#[test]
fn a_refused_connection_is_reported_in_one_line() {
    let port = unused_port();
    let addr = format!("127.0.0.1:{port}");
    let run = Process::run(CLIENT, [&addr], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "could not connect to {addr}: Connection refused (os error 111)\n"
        )
    );
    Transcript::new("transcripts/refused.console")
        .command("cargo run -p ch01-hello-client")
        .output(&run.stderr)
        .show_port(port, 5000)
        .check();
}

#[test]
fn a_server_that_resets_the_connection_is_reported_in_one_line() {
    // The stand-in sets SO_LINGER to zero, so closing sends a reset (RST)
    // instead of the orderly end of stream: the client's read fails.
    let addr = stand_in(|stream| {
        let client = testkit::Client::from_stream(stream);
        client.reset();
    });
    let run = Process::run(CLIENT, [&addr], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not read from {addr}: Connection reset by peer (os error 104)\n"
        )
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // Like `| head -0`: nobody reads the greeting, and writing it fails with
    // EPIPE. The client says so and fails; it does not panic.
    let server = Server::start(testkit::bin("ch01-hello-server"));
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"",
        "could not print the reply",
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        CLIENT,
        &[&["127.0.0.1:5000", "extra"]],
        "usage: ch01-hello-client [ADDR]",
    );
}
