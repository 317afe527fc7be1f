//! Listing 5-3 is a benchmark: chapter 5 reports what it measured with 1,000
//! clients. These smoke tests run it with small numbers, so that it is known
//! to work and to report its figures in the shape the chapter shows.

use nix::sys::signal::Signal;
use regex::Regex;
use testkit::{Process, Server, conventions};

const LOAD: &str = env!("CARGO_BIN_EXE_ch05-select-load");

fn select_server(max_clients: &str) -> Server {
    Server::start_with(
        testkit::bin("ch05-select-server"),
        ["127.0.0.1:0", max_clients],
        &[],
    )
}

#[test]
fn twenty_clients_get_every_reply_and_the_figures_are_reported() {
    let server = select_server("20");
    let run = Process::run(LOAD, [&server.addr().to_string(), "20", "50"], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let shape = Regex::new(
        r"^20 clients connected in \d+\.\d\d s
1000 replies in \d+\.\d\d s: \d+ replies per second
reply time: median \d+\.\d\d ms, 99th percentile \d+\.\d\d ms, slowest \d+\.\d\d ms
$",
    )
    .expect("regex");
    assert!(shape.is_match(&run.stdout), "{}", run.stdout);
}

#[test]
fn a_server_that_admits_too_few_clients_is_reported() {
    let server = select_server("3");
    let run = Process::run(LOAD, [&server.addr().to_string(), "5", "1"], b"");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "{} refused client 3 (start the server with a MAX_CLIENTS of at least the number of \
             clients): Sorry, the server is full. Try again later.\n",
            server.addr()
        )
    );
}

#[test]
fn more_replies_than_it_can_count_are_refused_before_it_connects() {
    let server = select_server("3");
    let too_many = usize::MAX.to_string();
    let run =
        Process::run(LOAD, [&server.addr().to_string(), "2", &too_many], b"");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "usage: ch05-select-load [ADDR [CLIENTS [LINES]]]\n"
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        LOAD,
        &[
            &["--help"],
            &["127.0.0.1:5000", "0"],
            &["127.0.0.1:5000", "10", "none"],
            &["127.0.0.1:5000", "10", "10", "extra"],
        ],
        "usage: ch05-select-load [ADDR [CLIENTS [LINES]]]",
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // `cargo run -p ch05-select-load | head -1`: once head has gone, every
    // write to stdout fails with EPIPE, and println! would panic.
    let server = select_server("3");
    let mut command = std::process::Command::new(LOAD);
    command.args([&server.addr().to_string(), "3", "2"]);
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"",
        "could not print",
    );
}

#[test]
fn a_stop_and_a_continue_while_it_waits_do_not_end_it() {
    // Ctrl-Z, then fg. On Linux a read with a timeout (SO_RCVTIMEO) fails
    // with EINTR after SIGSTOP and SIGCONT, even with no handler installed
    // (signal(7)). The test plays the server, so that the load program is
    // sure to be waiting in that read, for the welcome, when it is stopped.
    use std::io::{BufRead, BufReader, Write};
    use testkit::{procfs, timeout, wait_until};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr").to_string();
    let mut command = std::process::Command::new(LOAD);
    command.args([addr.as_str(), "1", "1"]);
    let mut load = Process::spawn(command);
    load.close_stdin();
    let (mut connection, _) = testkit::accept(&listener);
    let pid = load.pid();
    let in_state = |wanted: char| {
        wait_until(timeout(), || {
            procfs::stat(pid).is_some_and(|stat| stat.state == wanted)
        })
    };
    assert!(in_state('S'), "the load program never waited");
    load.signal(Signal::SIGSTOP);
    assert!(in_state('T'), "the load program did not stop");
    load.signal(Signal::SIGCONT);

    // Now the welcome, and the answer to the one line.
    connection
        .write_all(b"Welcome\nEnter a message\n")
        .expect("send the welcome");
    let mut line = String::new();
    if let Err(err) = BufReader::new(&connection).read_line(&mut line) {
        panic!("no line: {err}; the load program said: {}", load.stderr());
    }
    assert_eq!(line, "client 0 line 0\n");
    connection
        .write_all(b"OK ... client 0 line 0\n")
        .expect("send the reply");
    let run = load.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.contains("1 replies in "), "{}", run.stdout);
}
