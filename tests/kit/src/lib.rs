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
//!
//! A failure points at the test's own line: the kit's helpers and
//! assertions are `#[track_caller]`, so a panic inside one is reported where
//! the test called it. Bytes are shown as text ([`show_bytes`],
//! [`assert_bytes_eq!`]), and a helper thread started with [`spawn_helper`]
//! hands its panic message on when it is joined.

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

use std::any::Any;
use std::thread::JoinHandle;
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

/// How a failure names a wait of [`timeout()`] that ran out: `within 10s`,
/// and, when the timeout is the default one, how to wait less while
/// working on an exercise (an unfinished program makes tests wait it out).
pub fn within_timeout() -> String {
    let limit = timeout();
    if std::env::var_os("TESTKIT_TIMEOUT_SECS").is_some() {
        format!("within {limit:?}")
    } else {
        format!(
            "within {limit:?} (while you work, TESTKIT_TIMEOUT_SECS=3 makes \
             every wait shorter)"
        )
    }
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

/// Bytes as a byte string literal shows them, `b"OK caf\xc3\xa9\n"`: for a
/// failure message, where `Vec<u8>`'s `{:?}` would show a list of numbers.
pub fn show_bytes(bytes: &[u8]) -> String {
    format!("b\"{}\"", bytes.escape_ascii())
}

/// `assert_eq!` for bytes: on failure it shows both sides as text (see
/// [`show_bytes`]) and where they first differ, instead of two lists of
/// numbers. Takes anything that is `AsRef<[u8]>` (a `Vec<u8>`, `b"..."`, a
/// slice), and an optional message with format arguments, as `assert_eq!`
/// does.
#[macro_export]
macro_rules! assert_bytes_eq {
    ($got:expr, $want:expr $(,)?) => {
        $crate::assert_bytes_eq!($got, $want, "")
    };
    ($got:expr, $want:expr, $($message:tt)+) => {
        match (&$got, &$want) {
            (got, want) => {
                let got: &[u8] = ::std::convert::AsRef::<[u8]>::as_ref(got);
                let want: &[u8] = ::std::convert::AsRef::<[u8]>::as_ref(want);
                if got != want {
                    ::std::panic!(
                        "{}",
                        $crate::bytes_differ(
                            got,
                            want,
                            &::std::format!($($message)+)
                        )
                    );
                }
            }
        }
    };
}

/// The failure message of [`assert_bytes_eq!`].
#[doc(hidden)]
pub fn bytes_differ(got: &[u8], want: &[u8], message: &str) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let mut out = String::from("the bytes differ");
    if !message.is_empty() {
        out = format!("{message}: {out}");
    }
    format!(
        "{out} from byte {at}\n   got ({} bytes): {}\nwanted ({} bytes): {}",
        got.len(),
        excerpt(got, at),
        want.len(),
        excerpt(want, at)
    )
}

/// Long bytes shown around `at`: at most [`SHOWN`] of them, with how many
/// are left out before and after.
fn excerpt(bytes: &[u8], at: usize) -> String {
    const SHOWN: usize = 160;
    if bytes.len() <= SHOWN {
        return show_bytes(bytes);
    }
    let start = at.saturating_sub(SHOWN / 4).min(bytes.len() - SHOWN);
    let end = start + SHOWN;
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("({start} bytes) "));
    }
    out.push_str(&show_bytes(&bytes[start..end]));
    if end < bytes.len() {
        out.push_str(&format!(" ({} more bytes)", bytes.len() - end));
    }
    out
}

/// What a panic said: its message, when it was given one as text (as
/// `panic!`, `assert!` and `expect` do).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}

/// A thread of the test's own (a stand-in server, a client that sends while
/// the test reads), started by [`spawn_helper`]. Its [`join`](Helper::join)
/// hands on the thread's panic message, where `JoinHandle::join` gives an
/// `Any` that `expect` shows as `Any { .. }`.
#[derive(Debug)]
pub struct Helper<T> {
    thread: JoinHandle<T>,
}

/// Starts a helper thread (see [`Helper`]). Start the programs under test on
/// the test's own thread, not on a helper (see [`Process`]).
pub fn spawn_helper<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Helper<T> {
    Helper {
        thread: std::thread::spawn(work),
    }
}

impl<T> Helper<T> {
    /// Waits for the thread: what it returned, or its panic message.
    /// `.expect("the stand-in")` on it shows that message.
    pub fn join(self) -> Result<T, String> {
        self.thread
            .join()
            .map_err(|payload| panic_message(&*payload).to_string())
    }

    /// Waits for the thread and returns what it returned; if it panicked,
    /// fails the test with `what` and the thread's message.
    #[track_caller]
    pub fn joined(self, what: &str) -> T {
        match self.join() {
            Ok(value) => value,
            Err(message) => panic!("{what} failed: {message}"),
        }
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_as_text() {
        assert_eq!(
            show_bytes(b"OK caf\xc3\xa9\n\x1b"),
            r#"b"OK caf\xc3\xa9\n\x1b""#
        );
        assert_eq!(
            bytes_differ(b"OK hello", b"OK help", "the reply"),
            "the reply: the bytes differ from byte 6\n   got (8 bytes): \
             b\"OK hello\"\nwanted (7 bytes): b\"OK help\""
        );
        assert_bytes_eq!(vec![b'a'], b"a");
        let long = bytes_differ(&[b'x'; 1000], &[b'y'; 1000], "");
        assert!(
            long.contains(&format!(
                "got (1000 bytes): {} (840 more bytes)",
                show_bytes(&[b'x'; 160])
            )),
            "{long}"
        );
        let late = bytes_differ(&[b'x'; 1000], b"", "");
        assert!(late.contains("got (1000 bytes): b\"xxx"), "{late}");
        let failed = std::panic::catch_unwind(|| {
            assert_bytes_eq!(b"ab".to_vec(), b"abc", "for {}", "x");
        })
        .expect_err("they differ");
        assert_eq!(
            panic_message(&*failed),
            "for x: the bytes differ from byte 2\n   got (2 bytes): b\"ab\"\n\
             wanted (3 bytes): b\"abc\""
        );
    }

    #[test]
    fn a_helper_hands_on_its_panic_message() {
        let helper = spawn_helper(|| -> u32 { panic!("no datagram: {}", 42) });
        assert_eq!(helper.join(), Err("no datagram: 42".to_string()));
        let helper = spawn_helper(|| -> u32 { panic!("plain") });
        assert_eq!(helper.join(), Err("plain".to_string()));
        assert_eq!(spawn_helper(|| 7).joined("the helper"), 7);
        let failed = std::panic::catch_unwind(|| {
            spawn_helper(|| assert_eq!(1, 2, "one is not two")).joined("adding")
        })
        .expect_err("the helper failed");
        let message = panic_message(&*failed);
        assert!(
            message.starts_with("adding failed: assertion `left == right` failed: one is not two"),
            "{message}"
        );
    }
}
