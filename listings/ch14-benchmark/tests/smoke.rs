//! Listing 14-1 works, on a tiny load: two designs, 10 clients, a fraction
//! of a second each. It must measure them, write the table and the chart,
//! and refuse what it cannot run. No figure is asserted: chapter 14 shows
//! them from a full run.

use std::fs;
use std::path::PathBuf;

use nix::sys::signal::Signal;
use testkit::{Process, conventions, procfs};

const BENCHMARK: &str = env!("CARGO_BIN_EXE_ch14-benchmark");

/// A fresh folder for the benchmark's files, removed on drop.
struct OutDir(PathBuf);

impl OutDir {
    fn new(name: &str) -> OutDir {
        let dir = std::env::temp_dir()
            .join(format!("ch14-smoke-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        OutDir(dir)
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The cells of the table row for `design` and `load`.
fn row(table: &str, design: &str, load: &str) -> Vec<String> {
    let start = format!("| {design} | {load} | 10 |");
    let line = table
        .lines()
        .find(|line| line.starts_with(&start))
        .unwrap_or_else(|| panic!("no row {start} in:\n{table}"));
    line.trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_string())
        .collect()
}

/// Whether every tag the SVG opens is closed, in order: a tiny XML check
/// that is enough for what plotters writes (no comments, no CDATA).
fn tags_balance(svg: &str) -> bool {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            return false;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name.trim()) {
                return false;
            }
        } else if !tag.ends_with('/') && !tag.starts_with('?') {
            let name = tag.split_whitespace().next().unwrap_or("");
            open.push(name);
        }
    }
    open.is_empty()
}

#[test]
fn measures_two_designs_and_writes_the_table_and_the_chart() {
    // Built here, outside the benchmark's time limit; the benchmark's own
    // `cargo build` of them is then quick.
    testkit::bin("ch05-select-server");
    testkit::bin("ch03-tcp-server-loop");
    let out = OutDir::new("two");
    let run = Process::run(
        BENCHMARK,
        [
            "--designs",
            "select,iterative",
            "--clients",
            "10",
            "--seconds",
            "0.3",
            "--idle-seconds",
            "0.2",
            "--out",
        ]
        .into_iter()
        .map(String::from)
        .chain([out.0.display().to_string()]),
        b"",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.starts_with("Machine: "), "{run:?}");

    let table = fs::read_to_string(out.0.join("benchmark.md"))
        .unwrap_or_else(|err| panic!("no benchmark.md: {err}\n{run:?}"));
    assert!(
        table.contains("| design | load | clients | per second |"),
        "{table}"
    );
    // Every row of the main table has the header's 14 cells, and every
    // row of the designs side by side, its 8.
    let (main, side) = table
        .split_once("Designs side by side:")
        .unwrap_or_else(|| panic!("no designs side by side in:\n{table}"));
    for (part, cells) in [(main, 14), (side, 8)] {
        for line in part.lines().filter(|line| line.starts_with("| ")) {
            assert_eq!(line.matches(" |").count(), cells, "{line}");
        }
    }
    assert!(side.contains("\n| select | 10 |"), "{side}");
    assert!(side.contains("\n| iterative | none |"), "{side}");
    // The select server runs both loads; its rates are numbers.
    for load in ["short", "long"] {
        let cells = row(&table, "select", load);
        let rate: f64 =
            cells[3].replace(',', "").parse().unwrap_or_else(|_| {
                panic!("no rate for select, {load}: {cells:?}\n{table}")
            });
        assert!(rate > 0.0, "{table}");
    }
    // Its idle CPU was measured with every long client connected.
    assert!(row(&table, "select", "long")[12].ends_with(" s"), "{table}");
    // The iterative server cannot keep a connection: the table says so,
    // from the run.
    let iterative = row(&table, "iterative", "long");
    assert!(
        iterative[13].contains("the server closed the connection"),
        "{iterative:?}"
    );
    assert!(table.contains("Targets:"), "{table}");
    // What stdout showed is what the file holds.
    assert!(run.stdout.contains(&table[..table.len() / 2]), "{run:?}");

    let svg = fs::read_to_string(out.0.join("benchmark.svg"))
        .unwrap_or_else(|err| panic!("no benchmark.svg: {err}\n{run:?}"));
    assert!(svg.starts_with("<svg "), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    assert!(tags_balance(&svg), "unbalanced tags in {svg}");
    for text in ["select", "iterative", "Long sessions: replies per second"] {
        assert!(svg.contains(text), "no {text:?} in the chart");
    }
}

#[test]
fn help_lists_the_designs() {
    let run = Process::run(BENCHMARK, ["--help"], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    for design in ["iterative", "epoll", "thread-pool", "tokio", "php"] {
        assert!(run.stdout.contains(design), "{run:?}");
    }
}

#[test]
fn bad_arguments_print_usage() {
    for args in [
        vec!["--designs", "apache"],
        vec!["--loads", "medium"],
        vec!["--clients", "0"],
        vec!["--seconds", "soon"],
        vec!["--seconds"],
        vec!["--verbose", "yes"],
    ] {
        let run = Process::run(BENCHMARK, &args, b"");
        assert_eq!(run.code(), 2, "{args:?}");
        assert!(run.stderr.starts_with("usage: ch14-benchmark"), "{args:?}");
    }
}

#[test]
fn a_closed_stdout_ends_the_run_with_one_line_and_status_1() {
    let mut command = std::process::Command::new(BENCHMARK);
    command.args(["--designs", "select", "--clients", "10"]);
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"",
        "could not write the results",
    );
}

#[test]
fn a_benchmark_killed_mid_run_leaves_no_server_behind() {
    testkit::bin("ch05-select-server");
    let out = OutDir::new("killed");
    let mut command = std::process::Command::new(BENCHMARK);
    command
        .args(["--designs", "select", "--loads", "long", "--clients", "10"])
        .args(["--seconds", "30", "--out"])
        .arg(&out.0);
    let benchmark = Process::spawn(command);
    // The server runs in a process group of its own, which Ctrl-C at the
    // terminal does not reach; SIGKILL gives the benchmark no chance to
    // stop it either.
    let mut server = None;
    let found = testkit::wait_until(testkit::timeout(), || {
        server = procfs::live_children(benchmark.pid())
            .into_iter()
            .find(|child| child.comm.starts_with("ch05-select"));
        server.is_some()
    });
    assert!(found, "the benchmark started no select server");
    let server = server.map_or(0, |server| server.pid);
    benchmark.signal(Signal::SIGKILL);
    let gone = testkit::wait_until(testkit::timeout(), || {
        procfs::stat(server).is_none_or(|stat| stat.state == 'Z')
    });
    assert!(
        gone,
        "server {server} outlived the benchmark killed with -9"
    );
}
