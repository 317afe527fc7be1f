//! Exercise 14-2: the generator keeps its rate whatever the server does,
//! and a server that stalls once shows it in the latency of every line
//! that was due during the stall.
//!
//! No test asserts that anything is fast: a loaded machine only makes the
//! latencies longer, so each check is either a lower bound or a count with
//! a wide margin.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use testkit::select_server::WELCOME;
use testkit::{Helper, Process, spawn_helper, timeout};

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch14-exercise-coordinated-omission");

/// What the stand-in server saw: when each line arrived.
type Arrivals = Vec<Instant>;

/// A stand-in for the servers of the book, on an ephemeral port, for one
/// client: the welcome, then `OK ... <line>` for each line, except that the
/// line numbered `stall_at` is answered `stall` late.
fn stand_in(
    stall_at: usize,
    stall: Duration,
) -> (SocketAddr, Helper<Arrivals>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local address");
    let helper = spawn_helper(move || {
        // Every wait bounded: the accept, and each read.
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + timeout();
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5))
                }
                Err(err) => panic!("no client came: {err}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        stream.set_read_timeout(Some(timeout())).expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        for line in WELCOME {
            writer.write_all(line.as_bytes()).expect("welcome");
        }
        let mut arrivals = Vec::new();
        for (n, line) in BufReader::new(stream).lines().enumerate() {
            let line = line.expect("a line from the generator");
            arrivals.push(Instant::now());
            if n == stall_at {
                // The subject of the test, not a wait for the generator.
                thread::sleep(stall);
            }
            writer
                .write_all(format!("OK ... {line}\n").as_bytes())
                .expect("reply");
        }
        arrivals
    });
    (addr, helper)
}

/// Runs the generator against `addr` and returns its latencies, in
/// microseconds.
#[track_caller]
fn generate(addr: SocketAddr, rate: u32, count: u32) -> Vec<u64> {
    let args = [addr.to_string(), rate.to_string(), count.to_string()];
    let finished = Process::run(PROGRAM, args, b"");
    assert_eq!(finished.code(), 0, "{finished:?}");
    let latencies: Vec<u64> = finished
        .stdout
        .lines()
        .map(|line| line.parse().expect("a latency in microseconds"))
        .collect();
    assert_eq!(latencies.len(), count as usize, "{finished:?}");
    latencies
}

/// How many of `latencies` are 100 ms or more.
fn slow(latencies: &[u64]) -> usize {
    latencies.iter().filter(|&&us| us >= 100_000).count()
}

#[test]
fn a_stall_shows_in_every_line_that_was_due_during_it() {
    // 200 lines a second: line 20 is due at 100 ms, and the server holds it
    // 200 ms. Lines 20 to 39 were due before 200 ms, and none is answered
    // before 300 ms: twenty replies 100 ms late or more.
    let (addr, server) = stand_in(20, Duration::from_millis(200));
    let latencies = generate(addr, 200, 100);
    server.joined("the stand-in server");
    let max = latencies.iter().max().copied().unwrap_or(0);
    assert!(max >= 200_000, "the 200 ms stall shows as {max} us");
    assert!(
        slow(&latencies) >= 10,
        "{} replies of 100 ms or more, where twenty were due during the \
         stall: {latencies:?}",
        slow(&latencies)
    );
}

#[test]
fn the_rate_is_kept() {
    // 100 lines a second: line 49 is due 490 ms after line 0. Sending
    // faster (all at once, say) fails; a loaded machine only sends later.
    let (addr, server) = stand_in(usize::MAX, Duration::ZERO);
    generate(addr, 100, 50);
    let arrivals = server.joined("the stand-in server");
    let spread = arrivals[49] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(400),
        "50 lines at 100 a second came within {spread:?}"
    );
}

#[test]
fn without_a_stall_few_replies_are_slow() {
    // Latencies counted from when each line was due, not from the start of
    // the run (which would make line 50 half a second late).
    let (addr, server) = stand_in(usize::MAX, Duration::ZERO);
    let latencies = generate(addr, 100, 100);
    server.joined("the stand-in server");
    assert!(
        slow(&latencies) < 10,
        "{} replies of 100 ms or more from a server that never stalls: \
         {latencies:?}",
        slow(&latencies)
    );
}

#[test]
fn wrong_arguments_and_no_server() {
    let finished = Process::run(PROGRAM, [""; 0], b"");
    assert_eq!(finished.code(), 2, "{finished:?}");
    assert!(finished.stderr.starts_with("usage:"), "{finished:?}");
    // A port nobody listens on: bound, then closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let finished = Process::run(PROGRAM, [addr.to_string()], b"");
    assert_eq!(finished.code(), 1, "{finished:?}");
    assert!(
        finished
            .stderr
            .starts_with(&format!("could not connect to {addr}")),
        "{finished:?}"
    );
}
