//! Listing 3-5 against the original's TCP server (its steps "create and
//! bind", "listen", "accept" and "read and write", run as one program).

use testkit::php::{Original, php};
use testkit::{Process, unused_port};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch03-echo-client");

/// The echo client sends a line and prints one line back: the first of the
/// original's two answers.
#[test]
fn our_echo_client_prints_the_first_of_the_original_servers_two_answers() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let program = Original::of(&[
        "09-tcp-server-create-bind",
        "10-tcp-server-listen",
        "11-tcp-server-accept",
        "12-tcp-server-read-write",
    ])
    .edit("5000", &port.to_string(), 1);
    let server = php.spawn(&program, &[]);
    server.wait_for_stdout("Waiting for incoming connections");
    let run = Process::run(CLIENT, [format!("127.0.0.1:{port}")], b"hello\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "OK .. hello\n");
    let server = server.finish();
    assert_eq!(server.code(), 0, "{server:?}");
}
