//! The survival checks pass on a server that behaves as the book's do, and
//! fail on one with each defect they are there to catch (the kit's fixture
//! server, `src/bin/testkit-fixture-server.rs`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;

use testkit::survival::{self, Conversation};
use testkit::{Client, Server};

const FIXTURE: &str = env!("CARGO_BIN_EXE_testkit-fixture-server");

/// One line, echoed.
struct Echo;

impl Conversation for Echo {
    fn ask(&self, client: &mut Client) {
        client.send_line("hello");
    }

    fn hear(&self, client: &mut Client) -> usize {
        assert_eq!(client.read_to_end(), b"hello\n");
        let peer = client.local_addr();
        format!("client {peer} connected\nclient {peer} done\n").len()
    }
}

fn fixture(mode: &str) -> Command {
    let mut command = Command::new(FIXTURE);
    command.arg(mode);
    command
}

const FAILURE: &str = "could not accept: Too many open files (os error 24)";

/// Whether `check` fails the test it runs in.
fn fails(check: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(check)).is_err()
}

#[test]
fn a_server_that_behaves_passes_every_check() {
    survival::assert_a_log_nobody_reads_never_stops(fixture("good"), &Echo);
    survival::assert_a_closed_log_never_kills(fixture("good"), &Echo);
    let mut server = Server::from_process(testkit::Process::spawn({
        let mut command = fixture("good");
        command.arg("127.0.0.1:0");
        command
    }));
    survival::assert_out_of_descriptors_it_pauses(&mut server, &Echo, FAILURE);
}

#[test]
fn a_server_that_panics_on_a_closed_log_fails_its_check() {
    assert!(fails(|| {
        survival::assert_a_closed_log_never_kills(fixture("println"), &Echo);
    }));
}

#[test]
fn a_server_that_waits_for_room_in_its_log_fails_its_check() {
    // It hangs once the pipe is full: the check fails after the kit's
    // timeout, waiting for an answer.
    assert!(fails(|| {
        survival::assert_a_log_nobody_reads_never_stops(
            fixture("println"),
            &Echo,
        );
    }));
}

#[test]
fn a_server_that_retries_accept_at_once_fails_its_check() {
    let mut server = Server::from_process(testkit::Process::spawn({
        let mut command = fixture("spin");
        command.arg("127.0.0.1:0");
        command
    }));
    assert!(fails(|| {
        survival::assert_out_of_descriptors_it_pauses(
            &mut server,
            &Echo,
            FAILURE,
        );
    }));
}
