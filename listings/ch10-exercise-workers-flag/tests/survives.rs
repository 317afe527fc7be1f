//! The starter and the answer log through Listing 10-1's `log` and `warn`:
//! a closed stdout does not stop the pool. (Everything else they share with
//! Listing 10-1, whose tests check it.)

use std::process::Command;

use nix::sys::signal::Signal;
use testkit::pipes::closed_pipe;
use testkit::{Process, connect_when_listening, unused_port};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-exercise-workers-flag");

#[test]
fn a_closed_stdout_does_not_stop_the_pool() {
    let addr = format!("127.0.0.1:{}", unused_port());
    let mut command = Command::new(SERVER);
    command.arg(&addr);
    let process = Process::spawn_with_stdout(command, closed_pipe().into());
    let mut client =
        connect_when_listening(addr.parse().expect("a socket address"));
    client.read_greeting_pid();
    client.send_line("hello");
    assert_eq!(client.read_line(), "hello\n");
    process.signal(Signal::SIGTERM);
    let finished = process.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
}
