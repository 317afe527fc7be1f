//! The test kit every listing's tests share.
//!
//! A listing's tests start the listing's *real* binary, talk to it over real
//! sockets on loopback, and look at it from `/proc`. This crate makes that
//! safe to do in parallel and impossible to hang:
//!
//! - [`Server::start`] runs a server on `127.0.0.1:0` and learns its port from
//!   the `listening on <addr>` line every server prints first.
//! - [`Process`] runs any binary in its own process group; dropping it kills
//!   the whole group, so a failing test never leaves a server (or its forked
//!   children) behind.
//! - [`Client`] connects, reads and writes with timeouts.
//! - [`procfs`] counts a process's children, zombies, descriptors and CPU time.
//! - [`pipes`] makes the pipes a program's output can be: one nobody reads,
//!   one nobody can read.
//! - [`survival`] checks what every server survives: its log, and running
//!   out of descriptors.
//! - [`select_server`], [`udp`], [`forking`] and [`pool`] know the servers
//!   of chapters 5, 6, 8 and 9, and 10 as their clients see them, and hold
//!   the checks that a listing shares with the exercises built on it.
//! - [`pidfd`] copies another process's socket, and [`ptrace`] holds a
//!   process still after a `poll()`, for races too short to hit otherwise.
//! - [`Transcript`] checks a console session shown in the book against a real
//!   run.
//! - [`php`] runs the original tutorial's PHP programs, for the tests that
//!   back the book's claims about them.
//!
//! Every wait is bounded by [`timeout()`]: 10 seconds, or
//! `TESTKIT_TIMEOUT_SECS` if set. A test that times out fails with a message
//! that says what it was waiting for.

mod bin;
pub mod conventions;
pub mod daemon;
pub mod forking;
pub mod kernel;
pub mod limits;
pub mod measured;
mod net;
pub mod php;
pub mod pidfd;
pub mod pipes;
pub mod pool;
mod process;
pub mod procfs;
pub mod ptrace;
pub mod select_server;
pub mod survival;
pub mod tcp_queues;
mod transcript;
pub mod udp;

pub use bin::bin;
pub use net::{
    Client, accept, connect_when_listening, data_segments_received, unused_port,
};
pub use process::{Finished, Process, Server};
pub use transcript::Transcript;

use std::time::{Duration, Instant};

/// Says, in one line on stderr, that the test is skipped and why: for tests
/// whose precondition this machine lacks (IPv6, a high enough limit, a
/// readable `/proc/<pid>/wchan`). The test then returns.
pub fn skip(reason: &str) {
    eprintln!("skipped: {reason}");
}

/// How long any single wait in a test may take before the test fails.
pub fn timeout() -> Duration {
    let secs = std::env::var("TESTKIT_TIMEOUT_SECS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

/// Waits until `condition` holds, checking every few milliseconds, for at most
/// `limit`. Returns whether it held. Use it for facts only `/proc` can tell
/// (a process has exited, a child was reaped), never to "give a server time".
pub fn wait_until(
    limit: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
