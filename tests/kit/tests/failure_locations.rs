//! A failure inside the kit is reported at the test's own line: the kit's
//! helpers are `#[track_caller]`. One test, alone in its binary, since it
//! swaps the process's panic hook.

use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use testkit::{Client, Process, Server, spawn_helper};

/// The line a panic was reported at, and its message.
static REPORTED: Mutex<Option<(String, u32)>> = Mutex::new(None);

/// Runs `failing`, which must panic, and returns the file and line the panic
/// was reported at.
fn reported_at(failing: impl FnOnce()) -> (String, u32) {
    let result = panic::catch_unwind(AssertUnwindSafe(failing));
    assert!(result.is_err(), "it should have failed");
    REPORTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("the hook saw the panic")
}

#[test]
fn failures_point_at_the_callers_line() {
    let refused = SocketAddr::from(([127, 0, 0, 1], testkit::unused_port()));
    panic::set_hook(Box::new(|info| {
        if let Some(location) = info.location() {
            *REPORTED.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((location.file().to_string(), location.line()));
        }
    }));
    let mut seen = Vec::new();

    let line = line!() + 1;
    let at = reported_at(|| drop(Client::connect(refused)));
    seen.push(("Client::connect", line, at));

    let line = line!() + 1;
    let at = reported_at(|| drop(Server::start("true")));
    seen.push(("Server::start", line, at));

    let line = line!() + 1;
    let at = reported_at(|| drop(Process::run("/nonexistent", ["x"], b"")));
    seen.push(("Process::run", line, at));

    let line = line!() + 1;
    let at = reported_at(|| spawn_helper(|| panic!("x")).joined("helper"));
    seen.push(("Helper::joined", line, at));

    let _ = panic::take_hook();
    for (what, line, at) in seen {
        assert_eq!(at, (file!().to_string(), line), "{what}");
    }
}
