//! Listing 11-3 works, with small numbers: it times threads and processes,
//! builds and measures the four servers, and refuses what it cannot run.
//! The figures themselves are not tested: chapter 11 shows them from a run.

use testkit::{Process, conventions};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch11-thread-cost");

/// The cells of the table row that starts with `name`.
fn row(stdout: &str, name: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{stdout}"));
    line.trim_matches('|')
        .split('|')
        .skip(1)
        .map(|cell| cell.trim().to_string())
        .collect()
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

#[test]
fn measures_creation_and_the_memory_of_every_server() {
    let run = Process::run(PROGRAM, ["--spawns", "20", "--clients", "4"], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.starts_with("machine: "), "{run:?}");
    for what in ["a thread: spawn + join", "a process: fork + waitpid"] {
        assert!(number(&row(&run.stdout, what)[0]) > 0.0);
    }
    // Tasks: one per client for the thread and fork servers (and a log
    // writer for the first), one thread per worker for the pool, which
    // has one worker per client.
    let tasks = |server: &str| number(&row(&run.stdout, server)[0]);
    assert_eq!(tasks("ch05-select-server"), 1.0);
    assert_eq!(tasks("ch08-forking-echo-server"), 5.0);
    assert_eq!(tasks("ch11-thread-per-connection"), 6.0);
    assert_eq!(tasks("ch11-thread-pool"), 6.0);
    for server in ["ch08-forking-echo-server", "ch11-thread-per-connection"] {
        let cells = row(&run.stdout, server);
        assert!(number(&cells[2]) > number(&cells[1]), "{server}: {cells:?}");
    }
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        PROGRAM,
        &[
            &["--spawns"],
            &["--spawns", "0"],
            &["--clients", "501"],
            &["--threads", "4"],
        ],
        "usage: ch11-thread-cost [--spawns N] [--clients N]",
    );
}
