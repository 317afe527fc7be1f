//! What every TCP server of the book survives, checked the same way on each
//! (chapter 1, "What can go wrong"): a log that nobody reads does not stop
//! it, a log that nobody can read does not kill it, and running out of
//! descriptors makes it pause instead of spinning, and serve again once it
//! can.
//!
//! The checks talk to the server as its own tests do, through a
//! [`Conversation`] the test defines: what a client says, and what it must
//! hear back.
//!
//! ```no_run
//! use std::process::Command;
//! use testkit::Client;
//! use testkit::survival::{self, Conversation};
//!
//! /// One line, echoed, and the end.
//! struct Echo;
//!
//! impl Conversation for Echo {
//!     fn ask(&self, client: &mut Client) {
//!         client.send_line("hello");
//!         client.shutdown_write();
//!     }
//!
//!     fn hear(&self, client: &mut Client) -> usize {
//!         assert_eq!(client.read_to_end(), b"hello\n");
//!         format!("client {} hung up\n", client.local_addr()).len()
//!     }
//! }
//!
//! let server = Command::new(testkit::bin("ch03-echo-server"));
//! survival::assert_a_log_nobody_reads_never_stops(server, &Echo);
//! ```

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use regex::Regex;

use crate::pipes::{UnreadPipe, closed_pipe};
use crate::{
    Client, Process, Server, connect_when_listening, limits, procfs,
    unused_port,
};

/// One conversation of a client with the server under test.
pub trait Conversation {
    /// What the client says before the server answers: nothing, unless the
    /// test says otherwise. A server that serves a client until it hangs
    /// up must be told the end here (`shutdown_write`), so that it goes back
    /// to `accept()`.
    fn ask(&self, _client: &mut Client) {}

    /// Reads the server's answer and checks it; returns how many bytes of
    /// log, at least, the server writes about this conversation.
    fn hear(&self, client: &mut Client) -> usize;
}

/// How many clients the check of a closed log serves after the first.
const CLIENTS_WITH_A_CLOSED_LOG: usize = 200;

/// Starts `server` with its stdout a pipe of one page that the test never
/// reads, and holds conversations with it, one client after the other: one
/// as soon as it listens, then as many as it takes to log twice what the
/// pipe holds. Then the pipe must be
/// full, and the server still running: a server that waits until its log
/// line fits would wait for ever, and its clients with it.
///
/// `server` is the command without its address: the check adds a free
/// loopback address as its last argument (and sets nothing else, so set
/// `MAX_PROCS` and such on the command). Returns the server, still running.
#[track_caller]
pub fn assert_a_log_nobody_reads_never_stops(
    server: Command,
    talk: &impl Conversation,
) -> Process {
    let pipe = UnreadPipe::one_page();
    let (mut process, addr) = start_with_stdout(server, pipe.writer().into());
    converse(&mut connect_when_listening(addr), talk);
    let mut logged = 0;
    while logged < 2 * pipe.capacity() {
        logged += converse(&mut Client::connect(addr), talk);
    }
    assert!(
        pipe.is_full(),
        "{logged} bytes of log did not fill a pipe of {} bytes",
        pipe.capacity()
    );
    assert!(
        !process.has_exited(),
        "the server exited: {}",
        process.stderr()
    );
    process
}

/// Starts `server` with its stdout a pipe whose reader is gone (as in
/// `cargo run ... | head -1` once `head` has exited: every write fails with
/// `EPIPE`, and `println!` would panic), and holds conversations with it,
/// one client after the other: one as soon as it listens, then 200 more. The server must still run, and have
/// written nothing on stderr (no panic message, no complaint about its
/// log).
///
/// `server` is the command without its address, as for
/// [`assert_a_log_nobody_reads_never_stops`]. Returns the server.
#[track_caller]
pub fn assert_a_closed_log_never_kills(
    server: Command,
    talk: &impl Conversation,
) -> Process {
    let (mut process, addr) = start_with_stdout(server, closed_pipe().into());
    converse(&mut connect_when_listening(addr), talk);
    for _ in 0..CLIENTS_WITH_A_CLOSED_LOG {
        converse(&mut Client::connect(addr), talk);
    }
    assert!(
        !process.has_exited(),
        "the server exited: {}",
        process.stderr()
    );
    assert_eq!(process.stderr(), "", "nothing on stderr");
    process
}

/// Leaves the running `server` no descriptor for another connection (its
/// limit becomes the lowest number it has free, see
/// [`procfs::lowest_free_descriptor`]), and connects two clients, which
/// [`ask`](Conversation::ask). The server must log `failure`, a whole line
/// of its stderr (without the newline), for the connection it cannot take
/// on; then pause between tries instead of retrying at once: in the next
/// second it uses less than 100 ms of CPU, and it has logged at most 10
/// lines in all, every one of them `failure` (or, from a server that says
/// how long it pauses, `failure (trying again in <pause>)`). Given
/// descriptors again (16 more), it serves both clients.
///
/// Two clients, because a server asleep in `accept()` took the number for
/// its next connection before it slept: it accepts the first client even
/// under the new limit, and fails for the second.
#[track_caller]
pub fn assert_out_of_descriptors_it_pauses(
    server: &mut Server,
    talk: &impl Conversation,
    failure: &str,
) {
    let pid = server.pid();
    let limit = procfs::lowest_free_descriptor(pid);
    limits::set_descriptor_limit(pid, limit);
    let mut clients = [server.connect(), server.connect()];
    for client in &mut clients {
        talk.ask(client);
    }
    server.process().wait_for_stderr(failure);

    // A client waits in the queue, and the server sleeps between tries.
    let used = procfs::cpu_used_during(pid, Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(100),
        "out of descriptors, the server used {used:?} of CPU in one second"
    );
    let log = server.process().stderr();
    assert!(log.lines().count() <= 10, "too many tries:\n{log}");
    let pause = Regex::new(r"^ \(trying again in [0-9.]+[a-zµ]+\)$")
        .expect("a valid pattern");
    let is_failure = |line: &str| {
        line.strip_prefix(failure)
            .is_some_and(|rest| rest.is_empty() || pause.is_match(rest))
    };
    assert!(log.lines().all(is_failure), "not only {failure:?}:\n{log}");

    // With descriptors to spare again, every client is served.
    limits::set_descriptor_limit(pid, limit + 16);
    for client in &mut clients {
        talk.hear(client);
    }
}

/// Starts `server` on a free loopback port, with `stdout` as its standard
/// output.
#[track_caller]
fn start_with_stdout(
    mut server: Command,
    stdout: Stdio,
) -> (Process, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    server.arg(addr.to_string());
    (Process::spawn_with_stdout(server, stdout), addr)
}

/// One whole conversation on `client`; returns the bytes of log it makes.
#[track_caller]
fn converse(client: &mut Client, talk: &impl Conversation) -> usize {
    talk.ask(client);
    talk.hear(client)
}
