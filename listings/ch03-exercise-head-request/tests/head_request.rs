//! The checks for exercise 3-2. They fail on the unchanged starter and pass
//! once the client sends HEAD and prints only the status line.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread;

use testkit::tcp_queues::queues;
use testkit::{Finished, Process, conventions, timeout};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch03-exercise-head-request");

/// A stand-in web server: reads the request head, sends `parts` one write at
/// a time, then keeps the connection open until the client is done (unless
/// `close` is set). Returns its address and the request it got.
fn stand_in(
    parts: &'static [&'static [u8]],
    close: bool,
) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let (sender, request) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(timeout())).expect("timeout");
        let head = read_head(&stream);
        for (number, part) in parts.iter().enumerate() {
            if stream
                .write_all(part)
                .and_then(|()| stream.flush())
                .is_err()
            {
                break; // the client has gone
            }
            if number + 1 < parts.len() {
                wait_until_read(&stream);
            }
        }
        let _ = sender.send(head);
        if !close {
            // Wait for the client to hang up: read returns 0 (or times out).
            let _ = BufReader::new(&stream).read_line(&mut String::new());
        }
    });
    (addr, request)
}

/// Waits until the client has read all we sent, as `/proc/net/tcp` tells:
/// so that the next part arrives apart from this one, and a client that
/// reads only once gets this part alone. A client that has gone, or does not
/// read within the timeout, is not waited for.
fn wait_until_read(stream: &TcpStream) {
    let (Ok(here), Ok(there)) = (stream.local_addr(), stream.peer_addr())
    else {
        return;
    };
    testkit::wait_until(timeout(), || {
        match (queues(here, there), queues(there, here)) {
            (Some(ours), Some(theirs)) => ours.send == 0 && theirs.receive == 0,
            _ => true,
        }
    });
}

fn read_head(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let before = head.len();
        if reader.read_line(&mut head).unwrap_or(0) == 0
            || head[before..] == *"\r\n"
        {
            return head;
        }
    }
}

/// Runs the client with a 1-second limit, so that a client that waits for
/// the server to close fails quickly.
fn run(addr: SocketAddr) -> Finished {
    run_with_limit(addr, 1)
}

/// Runs the client with a limit of `seconds` for each read.
fn run_with_limit(addr: SocketAddr, seconds: u64) -> Finished {
    let port = addr.port().to_string();
    let seconds = seconds.to_string();
    Process::run(CLIENT, ["127.0.0.1", &port, &seconds], b"")
}

const RESPONSE: &[&[u8]] =
    &[b"HTTP/1.1 200 OK\r\nContent-Length: 1256\r\nConnection: close\r\n\r\n"];

#[test]
fn sends_head_instead_of_get() {
    let (addr, request) = stand_in(RESPONSE, true);
    run(addr);
    let request = request.recv_timeout(timeout()).expect("a request");
    assert_eq!(
        request,
        format!(
            "HEAD / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Connection: close\r\n\r\n",
            addr.port()
        )
    );
}

#[test]
fn prints_only_the_status_line() {
    let (addr, _) = stand_in(RESPONSE, true);
    let run = run(addr);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "HTTP/1.1 200 OK\n");
}

#[test]
fn a_status_line_that_arrives_in_pieces_is_put_together() {
    let (addr, _) = stand_in(
        &[b"HTT", b"P/1.1 404 Not", b" Found\r\nServer: x\r\n\r\n"],
        true,
    );
    // The stand-in sends each piece only once the client has read the last
    // one, which it learns from /proc/net/tcp: slow on a busy machine, so
    // the client gets the kit's whole wait for each read, not one second.
    let run = run_with_limit(addr, timeout().as_secs().max(1));
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "HTTP/1.1 404 Not Found\n");
}

#[test]
fn does_not_wait_for_the_server_to_close() {
    // This server ignores `Connection: close` and keeps the connection open.
    let (addr, _) = stand_in(RESPONSE, false);
    let run = run(addr);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "HTTP/1.1 200 OK\n");
}

#[test]
fn a_server_that_closes_before_the_end_of_the_status_line_is_reported() {
    let (addr, _) = stand_in(&[b"HTTP/1.1 2"], true);
    let run = run(addr);
    assert_eq!(run.code(), 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            format!(
                "{addr} closed the connection before the end of the status line"
            )
            .as_str()
        )
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // Like `| head -0`: nobody can read what the client prints, and printing
    // fails with EPIPE. The client says so and fails; it does not panic.
    let (addr, _) = stand_in(RESPONSE, true);
    let mut command = Command::new(CLIENT);
    command.args(["127.0.0.1", &addr.port().to_string(), "2"]);
    let run = conventions::run_with_closed_stdout(command, b"");
    assert_eq!(run.code(), 1, "{run:?}");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("could not print the "), "{run:?}");
    assert!(last.ends_with(": Broken pipe (os error 32)"), "{run:?}");
}
