//! Listing 12-3 shows the herd and what EPOLLEXCLUSIVE does to it. The
//! counts differ from run to run; what the test checks is how they relate:
//! without the flag, every waiter is woken for every connection; with it,
//! fewer are; and every connection is accepted once either way.

use testkit::measured::as_shown;
use testkit::{Process, Transcript};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch12-thundering-herd");

/// The `all` row of the table after `heading`: woken, epoll_wait returned,
/// accepted, found nothing.
fn totals(output: &str, heading: &str) -> [u64; 4] {
    let table = output
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no table {heading:?} in:\n{output}"));
    let all = table
        .lines()
        .find(|line| line.starts_with("all "))
        .unwrap_or_else(|| panic!("no `all` row in:\n{table}"));
    let numbers: Vec<u64> = all
        .split_whitespace()
        .skip(1)
        .map(|number| number.parse().expect("a count"))
        .collect();
    numbers.try_into().expect("four counts")
}

#[test]
fn without_epollexclusive_every_waiter_wakes_and_with_it_fewer_do() {
    let run = Process::run(PROGRAM, std::iter::empty::<&str>(), b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let [woken, returned, accepted, _] =
        totals(&run.stdout, "without EPOLLEXCLUSIVE");
    // Four waiters, a hundred connections: each connection wakes them all
    // (a waiter busy at that moment may miss one).
    assert_eq!(accepted, 100);
    assert!(woken >= 300, "only {woken} wakeups without EPOLLEXCLUSIVE");
    // Each connection made epoll_wait() return at least once. (Most losers
    // go back to sleep without returning: level-triggered, epoll_wait()
    // looks again before it returns. How many depends on the timing.)
    assert!(returned >= accepted, "{returned}");
    let [woken_exclusive, _, accepted_exclusive, _] =
        totals(&run.stdout, "with EPOLLEXCLUSIVE");
    assert_eq!(accepted_exclusive, 100);
    assert!(
        woken_exclusive < woken && woken_exclusive < 200,
        "{woken_exclusive} wakeups with EPOLLEXCLUSIVE, {woken} without"
    );
    Transcript::new("transcripts/herd.console")
        .command("cargo run -p ch12-thundering-herd")
        .output(&as_shown("transcripts/herd.console", &run.stdout, r" *\d+"))
        .check();
}

#[test]
fn bad_arguments_print_usage() {
    testkit::conventions::assert_bad_arguments_print_usage(
        PROGRAM,
        &[
            &["0"],
            &["four"],
            &["4", "0"],
            &["4", "10", "extra"],
            &["65"],
        ],
        "usage: ch12-thundering-herd [WAITERS [CONNECTIONS]] (1 to 64 \
         waiters, 1 to 10000 connections)",
    );
}
