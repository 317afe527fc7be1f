//! Listing 1-1 behaves as chapter 1 says: it greets every caller by address,
//! one after another, hangs up, and reports what goes wrong in one line.

use testkit::{Client, Process, Server, Transcript, conventions};

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
fn a_caller_that_hangs_up_at_once_does_not_stop_the_server() {
    let mut server = Server::start(SERVER);
    // Connect and reset straight away: the server's write may find the
    // connection gone. It must log that and keep answering.
    let rude = server.connect();
    let rude_addr = rude.local_addr();
    rude.reset();
    assert_eq!(server.next_line(), format!("call from {rude_addr}"));

    let mut polite = server.connect();
    assert!(polite.read_line().starts_with("Hello "));
    assert_eq!(
        server.next_line(),
        format!("call from {}", polite.local_addr())
    );
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
