//! Listing 10-5 works, with small numbers: it measures a real server (the
//! worker pool of Listing 10-1), finds a server by its package name, and
//! refuses what it cannot run. The real measurements are not tests: chapter
//! 10 shows them from a run on a quiet machine.

use testkit::{Process, conventions};

const BENCHMARK: &str = env!("CARGO_BIN_EXE_ch10-server-benchmark");

/// The figures in the table row for `server`, which must be there.
fn row(stdout: &str, server: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&format!("| {server} |")))
        .unwrap_or_else(|| panic!("no row for {server} in:\n{stdout}"));
    line.trim_matches('|')
        .split('|')
        .skip(1)
        .map(|cell| cell.trim().to_string())
        .collect()
}

#[test]
fn measures_a_server_given_by_path() {
    let pool = testkit::bin("ch10-worker-pool");
    let server = format!("{}=greet-echo", pool.display());
    let run = Process::run(
        BENCHMARK,
        ["--seconds", "0.3", "--clients", "1,2", &server],
        b"",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.starts_with("machine: "), "{run:?}");
    assert!(
        run.stdout.contains("| server | 1 client | 2 clients |"),
        "{run:?}"
    );
    for cell in row(&run.stdout, "ch10-worker-pool") {
        let rate: f64 = cell.parse().unwrap_or_else(|_| {
            panic!("sessions failed or no number: {cell:?}")
        });
        assert!(rate > 0.0, "{run:?}");
    }
}

#[test]
fn builds_and_measures_a_server_named_by_its_package() {
    let run = Process::run(
        BENCHMARK,
        [
            "--seconds",
            "0.2",
            "--clients",
            "1",
            "--max-procs",
            "3",
            "ch10-worker-pool=greet-echo",
        ],
        b"",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.contains("MAX_PROCS=3,"), "{run:?}");
    assert_eq!(row(&run.stdout, "ch10-worker-pool").len(), 1);
}

#[test]
fn a_server_that_is_not_a_listing_is_reported() {
    let run = Process::run(
        BENCHMARK,
        ["--seconds", "0.1", "ch99-no-such-server=line"],
        b"",
    );
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr
            .ends_with("could not build ch99-no-such-server: cargo build exit status: 101\n"),
        "{run:?}"
    );
}

#[test]
fn bad_arguments_print_usage() {
    for args in [
        vec!["ch10-worker-pool"],
        vec!["ch10-worker-pool=telnet"],
        vec!["--clients", "0"],
        vec!["--seconds", "soon"],
        vec!["--verbose"],
    ] {
        let run = Process::run(BENCHMARK, &args, b"");
        assert_eq!(run.code(), 2, "{args:?}");
        assert!(
            run.stderr.starts_with("usage: ch10-server-benchmark"),
            "{args:?}"
        );
    }
}

#[test]
fn a_closed_stdout_ends_the_run_with_one_line_and_status_1() {
    let mut command = std::process::Command::new(BENCHMARK);
    command.args(["--seconds", "0.1", "ch99-never-started=line"]);
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"",
        "could not write the results",
    );
}
