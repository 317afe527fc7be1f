//! The checks for exercise 3-1. They fail on the unchanged starter and pass
//! once the server hangs up on a client that says nothing for too long.
//! The server runs with ECHO_IDLE_MS=100: a client may be silent for 0.1 s.

use std::time::Duration;

use testkit::{Client, Process, Server};

const SERVER: &str = env!("CARGO_BIN_EXE_ch03-exercise-idle-timeout");

fn server() -> Server {
    Server::start_with(SERVER, ["127.0.0.1:0"], &[("ECHO_IDLE_MS", "100")])
}

/// A client that gives up on the server after 1 second, ten times the
/// server's limit, so that a test of the starter fails quickly.
fn connect(server: &Server) -> Client {
    let client = server.connect();
    client.set_read_timeout(Duration::from_secs(1));
    client
}

#[test]
fn a_silent_client_is_told_and_disconnected() {
    let mut server = server();
    let mut client = connect(&server);
    assert_eq!(client.read_line(), "ERROR idle for too long\n");
    client.expect_closed();
    server.process().wait_for_stderr(&format!(
        "client {} said nothing for 100 ms; hanging up\n",
        client.local_addr()
    ));
}

#[test]
fn a_client_that_stops_in_the_middle_of_a_line_is_disconnected_too() {
    let server = server();
    let mut client = connect(&server);
    client.send_line("a whole line");
    assert_eq!(client.read_line(), "a whole line\n");
    client.send(b"half a li");
    assert_eq!(client.read_line(), "ERROR idle for too long\n");
    client.expect_closed();
}

#[test]
fn the_next_client_is_served_once_the_silent_one_is_dropped() {
    let server = server();
    let _silent = connect(&server);
    let mut next = connect(&server);
    next.send_line("hello?");
    assert_eq!(next.read_line(), "hello?\n");
}

#[test]
fn a_client_that_keeps_talking_is_not_cut_off() {
    // The limit is on each wait, not on the whole conversation: with a limit
    // of 0.5 s, eight lines 0.1 s apart take longer than the limit, and that
    // is fine.
    let mut server =
        Server::start_with(SERVER, ["127.0.0.1:0"], &[("ECHO_IDLE_MS", "500")]);
    let mut client = connect(&server);
    for number in 0..8 {
        std::thread::sleep(Duration::from_millis(100));
        client.send_line(&format!("line {number}"));
        assert_eq!(client.read_line(), format!("line {number}\n"));
    }
    client.shutdown_write();
    client.expect_closed();
    server.next_line(); // client ... is now connected
    assert_eq!(
        server.next_line(),
        format!("client {} hung up after 8 lines", client.local_addr())
    );
}

#[test]
fn an_idle_limit_that_is_zero_or_not_a_number_is_refused() {
    // To the kernel a read timeout of zero means none at all, so the standard
    // library refuses to set it: a server that tried would drop every
    // client. The server refuses the setting instead, before it listens.
    for value in ["0", "soon", "-300"] {
        let env = [("ECHO_IDLE_MS", value)];
        let run = Process::run_with_env(SERVER, ["127.0.0.1:0"], &env, b"");
        assert_eq!(run.code(), 2, "ECHO_IDLE_MS={value}: {run:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            format!(
                "ECHO_IDLE_MS must be a number of milliseconds, 1 or more, \
                 not {value:?}\n"
            )
        );
    }
}
