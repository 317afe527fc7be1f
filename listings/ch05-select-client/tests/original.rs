//! Listing 5-2 against the original's select server: they speak the same
//! protocol, lines in and `OK ... ` replies out.
//!
//! The server is run with two declared edits: it listens on loopback instead
//! of `0.0.0.0`, and on a free port instead of 5000.

use std::process::Command;

use testkit::php::{Original, Php, php};
use testkit::{Process, Transcript, unused_port};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch05-select-client");
/// The original's welcome, byte for byte, trailing spaces included.
const WELCOME: &str = "Welcome to php socket server version 1.0 \n\
                       Enter a message and press enter, and i shall reply back \n";

/// Starts the original's select server; returns it and its address.
/// Between `unused_port()` and the server's bind, another program may take
/// the port (the original binds without `SO_REUSEADDR`, so even a client's
/// connection from that port is in the way); then the original says "Could
/// not bind socket" and exits, and we try another port.
fn original_server(php: &Php) -> (Process, String) {
    for _ in 0..5 {
        let port = unused_port();
        let program = Original::of(&["14-select-server"])
            .edit(r#""0.0.0.0""#, r#""127.0.0.1""#, 1)
            .edit("5000", &port.to_string(), 2);
        let mut server = php.spawn(&program, &[]);
        assert_eq!(server.next_line(), "Socket created ");
        let bound = server.next_line();
        if bound.starts_with("Could not bind socket") {
            continue;
        }
        assert_eq!(bound, "Socket bind OK ");
        server.wait_for_stdout("Waiting for incoming connections... \n");
        return (server, format!("127.0.0.1:{port}"));
    }
    panic!("five free ports were taken before the original could bind one");
}

/// Checks that the original server died as a client's end of input makes
/// it die: closing the null its emptied slot holds.
fn assert_died_of_the_end_of_input(server: Process) {
    let run = server.finish();
    assert_eq!(run.code(), 255);
    assert!(
        run.stderr.contains(
            "Uncaught TypeError: socket_close(): Argument #1 ($socket) must be \
             of type Socket, null given"
        ),
        "{}",
        run.stderr
    );
}

/// Two lines piped at once reach the server in one read, and the original
/// answers reads, not lines: one reply. The chapter shows this session.
#[test]
fn piped_lines_get_one_reply_per_read_from_the_original() {
    let Some(php) = php() else { return };
    let (server, addr) = original_server(&php);
    let run = Process::run(CLIENT, [&addr], b"hello\nhow are you?\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, format!("{WELCOME}OK ... hello\nhow are you?\n"));
    assert_eq!(run.stderr, "");
    assert_died_of_the_end_of_input(server);
    Transcript::new("transcripts/original-server.console")
        .command("printf 'hello\\nhow are you?\\n' | cargo run -p ch05-select-client")
        .output(&run.stdout)
        .check();
}

/// Typed one at a time, each line gets its own reply, as from Listing 5-1.
#[test]
fn typed_lines_each_get_a_reply_from_the_original() {
    let Some(php) = php() else { return };
    let (server, addr) = original_server(&php);
    let mut command = Command::new(CLIENT);
    command.arg(&addr);
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
    // At the end of input the client half-closes; the original reads the
    // end of the stream, dies of it, and the client sees the connection end.
    client.close_stdin();
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_died_of_the_end_of_input(server);
}
