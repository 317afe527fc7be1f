//! The checks for exercise 4-2. They fail on the unchanged starter and pass
//! once the client sends every byte, reports each write, and waits for room
//! in poll() instead of spinning.
//!
//! The test is the server. It reads nothing until the client has made its
//! first write, so the kernel's buffers are full by then: 32 MiB is far more
//! than they hold.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use testkit::pipes::closed_pipe;
use testkit::{Client, Process, conventions, kernel, timeout, unused_port};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch04-exercise-send-all");
const BYTES: usize = 32 * 1024 * 1024;

/// Starts the client against a new listener; returns both, once the client
/// has printed its first line.
fn start(bytes: usize) -> (Process, TcpStream, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("local_addr");
    let mut command = Command::new(CLIENT);
    command.args([addr.to_string(), bytes.to_string()]);
    let mut client = Process::spawn(command);
    client.close_stdin();
    let (connection, _) = testkit::accept(&listener);
    connection
        .set_read_timeout(Some(timeout()))
        .expect("read timeout");
    let first = client.next_line();
    (client, connection, first)
}

/// Reads until the end of the stream, checking that byte i is i % 251.
fn read_and_check(mut connection: TcpStream) -> usize {
    let mut received = 0;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let got = connection.read(&mut chunk).expect("read");
        if got == 0 {
            return received;
        }
        for (at, byte) in chunk[..got].iter().enumerate() {
            assert_eq!(
                *byte,
                ((received + at) % 251) as u8,
                "byte {}",
                received + at
            );
        }
        received += got;
    }
}

/// "sent 123 of 456 bytes" gives 123.
fn sent(line: &str) -> usize {
    line.strip_prefix("sent ")
        .and_then(|rest| rest.strip_suffix(&format!(" of {BYTES} bytes")))
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("not a progress line: {line:?}"))
}

#[test]
fn every_byte_arrives_in_order() {
    let (client, connection, _) = start(BYTES);
    assert_eq!(read_and_check(connection), BYTES);
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout
            .ends_with(&format!("sent {BYTES} of {BYTES} bytes\ndone\n"))
    );
}

#[test]
fn progress_is_reported_after_every_write() {
    let (client, connection, first) = start(BYTES);
    // The buffers took some of the bytes, but not all.
    assert!(sent(&first) < BYTES, "{first}");
    read_and_check(connection);
    let run = client.finish();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"done"));
    let progress: Vec<usize> = lines[..lines.len() - 1]
        .iter()
        .map(|line| sent(line))
        .collect();
    assert!(progress.len() > 1, "{}", run.stdout);
    assert!(
        progress.windows(2).all(|pair| pair[0] < pair[1]),
        "{progress:?}"
    );
    assert_eq!(progress.last(), Some(&BYTES));
}

#[test]
fn while_the_buffer_is_full_the_client_sleeps_instead_of_spinning() {
    let (client, connection, _) = start(BYTES);
    // Nobody reads for half a second. A client that retried write() in a
    // loop would use all of it; one that naps between tries uses little,
    // but wakes up every time; one that sleeps in poll() uses almost none,
    // and is not woken: there is no room to wake it for.
    kernel::assert_asleep_during(client.pid(), Duration::from_millis(500));
    assert_eq!(read_and_check(connection), BYTES);
    assert_eq!(client.finish().code(), 0);
}

#[test]
fn a_reader_that_hangs_up_is_reported() {
    let (client, connection, _) = start(BYTES);
    let addr = connection.local_addr().expect("local_addr");
    Client::from_stream(connection).reset();
    let run = client.finish();
    assert_eq!(run.code(), 1, "{run:?}");
    // Depending on when the reset arrives, the next write() reports it as a
    // reset or as a broken pipe.
    let reset = format!(
        "could not send to {addr}: Connection reset by peer (os error 104)\n"
    );
    let broken =
        format!("could not send to {addr}: Broken pipe (os error 32)\n");
    assert!(
        run.stderr == reset || run.stderr == broken,
        "{}",
        run.stderr
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        CLIENT,
        &[&["127.0.0.1:5000"], &["127.0.0.1:5000", "many"]],
        "usage: ch04-exercise-send-all ADDR BYTES",
    );
    let addr = format!("127.0.0.1:{}", unused_port());
    let refused = Process::run(CLIENT, [addr.as_str(), "10"], b"");
    assert_eq!(refused.code(), 1);
    assert_eq!(
        refused.stderr,
        format!(
            "could not connect to {addr}: Connection refused (os error 111)\n"
        )
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // `cargo run -p ch04-exercise-send-all -- ADDR BYTES | head -1`: once
    // head has gone, printing the progress fails with EPIPE, and println!
    // would panic.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let mut command = Command::new(CLIENT);
    command.args([addr.to_string(), "1000".to_string()]);
    let mut client = Process::spawn_with_stdout(command, closed_pipe().into());
    client.close_stdin();
    let (_connection, _) = testkit::accept(&listener);
    let run = client.finish();
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stderr, "could not print: Broken pipe (os error 32)\n");
}
