//! Listing 1-1 behaves as chapter 1 says: it greets every caller by address,
//! one after another, hangs up, and reports what goes wrong in one line; and
//! neither its log nor a lack of descriptors stops it.

use std::process::Command;

use nix::sys::signal::Signal;
use testkit::procfs::wait_for_state;
use testkit::survival::{self, Conversation};
use testkit::tcp_queues::queues;
use testkit::{
    Client, Process, Server, Transcript, conventions, timeout, wait_until,
};

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
fn a_caller_that_hangs_up_before_its_greeting_does_not_stop_the_server() {
    let mut server = Server::start(SERVER);
    let pid = server.pid();
    // Stop the server, so that the call waits in the listen queue, and have
    // the caller reset it there (SO_LINGER 0). When the server goes on, it
    // accepts a connection that is already gone, and its write fails.
    server.process().signal(Signal::SIGSTOP);
    wait_for_state(pid, 'T');
    let rude = server.connect();
    let rude_addr = rude.local_addr();
    let servers_end = || queues(server.addr(), rude_addr);
    assert!(wait_until(timeout(), || servers_end().is_some()));
    rude.reset();
    // The reset has arrived: the server's end is closed, out of the table.
    assert!(wait_until(timeout(), || servers_end().is_none()));
    server.process().signal(Signal::SIGCONT);

    assert_eq!(server.next_line(), format!("call from {rude_addr}"));
    server.process().wait_for_stderr(&format!(
        "could not write to {rude_addr}: \
         Connection reset by peer (os error 104)\n"
    ));
    let mut polite = server.connect();
    assert!(polite.read_line().starts_with("Hello "));
    assert_eq!(
        server.next_line(),
        format!("call from {}", polite.local_addr())
    );
}

/// A call: the client says nothing.
struct Call;

impl Conversation for Call {
    /// The server greets the client and hangs up; it logs the call.
    fn hear(&self, client: &mut Client) -> usize {
        let greeting = client.read_to_end();
        assert!(greeting.starts_with(b"Hello "), "{greeting:?}");
        format!("call from {}\n", client.local_addr()).len()
    }
}

#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    // The test keeps the read end and never reads: once the pipe is full, a
    // write to it would wait for ever.
    survival::assert_a_log_nobody_reads_never_stops(
        Command::new(SERVER),
        &Call,
    );
}

#[test]
fn a_log_nobody_can_read_does_not_kill_the_server() {
    // Like `| head -1` once head has exited: every write to the pipe fails
    // with EPIPE, where println! would panic.
    survival::assert_a_closed_log_never_kills(Command::new(SERVER), &Call);
}

#[test]
fn out_of_descriptors_it_waits_instead_of_spinning() {
    // No descriptor left for another socket: a call waits in the queue, and
    // the server pauses between attempts instead of retrying at once.
    let mut server = Server::start(SERVER);
    let failure = "could not accept a call: Too many open files (os error 24)";
    survival::assert_out_of_descriptors_it_pauses(&mut server, &Call, failure);
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
