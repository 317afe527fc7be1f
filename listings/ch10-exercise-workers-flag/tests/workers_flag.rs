//! The checks for exercise 10-1. They fail on the unchanged starter and pass
//! once `--workers N` sets the number of workers.

use testkit::{Process, Server, kernel, procfs, timeout, wait_until};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-exercise-workers-flag");
const USAGE: &str = "usage: ch10-exercise-workers-flag [--workers N] [ADDR]\n";

/// Waits until `server` has `count` workers: children asleep in accept(), or
/// just live children where the machine does not show where they sleep.
fn expect_workers(server: &Server, count: usize) {
    if kernel::wchan_is_readable() {
        kernel::children_asleep_in_accept(server.pid(), count);
    } else {
        let live = || procfs::live_children(server.pid()).len();
        assert!(wait_until(timeout(), || live() == count), "{}", live());
    }
}

#[test]
fn workers_sets_the_number_of_workers() {
    let server =
        Server::start_with(SERVER, ["--workers", "3", "127.0.0.1:0"], &[]);
    expect_workers(&server, 3);
}

#[test]
fn the_flag_may_come_after_the_address() {
    let server =
        Server::start_with(SERVER, ["127.0.0.1:0", "--workers", "1"], &[]);
    expect_workers(&server, 1);
}

#[test]
fn the_flag_wins_over_max_procs() {
    let server = Server::start_with(
        SERVER,
        ["--workers", "4", "127.0.0.1:0"],
        &[("MAX_PROCS", "1")],
    );
    expect_workers(&server, 4);
}

#[test]
fn without_the_flag_max_procs_still_counts() {
    let server =
        Server::start_with(SERVER, ["127.0.0.1:0"], &[("MAX_PROCS", "3")]);
    expect_workers(&server, 3);
}

#[test]
fn a_missing_or_bad_number_prints_usage() {
    for args in [
        vec!["--workers"],
        vec!["--workers", "0"],
        vec!["--workers", "many", "127.0.0.1:0"],
        vec!["127.0.0.1:0", "127.0.0.1:1"],
        vec!["--threads", "2"],
    ] {
        let run = Process::run(SERVER, &args, b"");
        assert_eq!(run.code(), 2, "{args:?}");
        assert_eq!(run.stderr, USAGE, "{args:?}");
    }
}
