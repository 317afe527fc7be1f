//! Listing 3-1 behaves as chapter 3 says: it resolves the host, connects,
//! sends a GET request with a Host header, prints the whole response until the
//! server closes, and reports a refused connection, an unknown host and a
//! silent server in one clear line each.
//!
//! The web servers here are stand-ins that the tests run on loopback: no test
//! needs the Internet.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread;

use socket2::{Domain, Socket, Type};
use testkit::{
    Client, Finished, Process, Server, Transcript, conventions, timeout,
    unused_port,
};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch03-tcp-client");

/// A stand-in server on 127.0.0.1: accepts one connection and hands it to
/// `serve`, whose result comes back through the returned channel.
fn stand_in<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, mpsc::Receiver<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    stand_in_on(listener, serve)
}

/// [`stand_in`], on a listener of the test's choosing.
fn stand_in_on<T: Send + 'static>(
    listener: TcpListener,
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, mpsc::Receiver<T>) {
    let addr = listener.local_addr().expect("local_addr");
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_read_timeout(Some(timeout())).expect("timeout");
            let _ = done.send(serve(stream));
        }
    });
    (addr, result)
}

/// Reads an HTTP request head: lines up to the empty line.
fn read_request(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    loop {
        let before = request.len();
        reader.read_line(&mut request).expect("read request");
        if request.len() == before || request[before..] == *"\r\n" {
            return request;
        }
    }
}

fn run(args: &[&str]) -> Finished {
    Process::run(CLIENT, args, b"")
}

#[test]
fn sends_a_get_request_with_a_host_header_and_prints_the_whole_response() {
    // The response arrives in three writes; the client must print all of it.
    let (addr, request) = stand_in(|mut stream| {
        let request = read_request(&stream);
        for part in [
            &b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"[..],
            b"Content-Length: 6\r\nConnection: close\r\n\r\n",
            b"hello\n",
        ] {
            stream.write_all(part).expect("write");
        }
        request
    });
    let port = addr.port().to_string();
    let run = run(&["127.0.0.1", &port]);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\
         Connection: close\r\n\r\nhello\n"
    );
    let request = request.recv_timeout(timeout()).expect("the request");
    assert_eq!(
        request,
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines[0], format!("127.0.0.1 resolves to {addr}"));
    assert!(
        lines[1].starts_with(&format!("connected to {addr} from 127.0.0.1:"))
    );
}

#[test]
fn prints_a_response_far_longer_than_one_read() {
    // The original read at most 2045 bytes. This response is 1 MiB.
    let body: String = (0..1 << 20)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let response =
        format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{body}");
    let sent = response.clone();
    let (addr, _) = stand_in(move |mut stream| {
        read_request(&stream);
        stream.write_all(sent.as_bytes()).expect("write");
    });
    let run = run(&["127.0.0.1", &addr.port().to_string()]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(run.stdout.len(), response.len());
    assert!(run.stdout == response);
}

#[test]
fn talks_to_the_books_line_server() {
    // Chapter 3's own server reads one line, the request line, and answers it.
    let mut server = Server::start(testkit::bin("ch03-tcp-server-once"));
    let port = server.port().to_string();
    let run = run(&["127.0.0.1", &port]);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "OK .. GET / HTTP/1.1\n");
    assert!(server.next_line().starts_with("client 127.0.0.1:"));
    Transcript::new("transcripts/book-server.console")
        .command("cargo run -p ch03-tcp-client -- 127.0.0.1 5000")
        .output(&run.stderr)
        .output(&run.stdout)
        .show_port(server.port(), 5000)
        .check();
}

#[test]
fn connects_through_a_name_trying_each_of_its_addresses() {
    // localhost may resolve to [::1] before 127.0.0.1. Nobody listens on
    // [::1] here, so the client must go on to the next address.
    let (addr, _) = stand_in(|mut stream| {
        read_request(&stream);
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .expect("write");
    });
    let run = run(&["localhost", &addr.port().to_string()]);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "HTTP/1.1 204 No Content\r\n\r\n");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("localhost resolves to "), "{first}");
    assert!(first.contains(&addr.to_string()), "{first}");
    assert!(
        run.stderr
            .contains(&format!("connected to {addr} from 127.0.0.1:")),
        "{}",
        run.stderr
    );
}

#[test]
fn an_ipv6_address_is_dialled_and_named_in_brackets() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        testkit::skip("this machine has no IPv6 loopback address, ::1");
        return;
    };
    let (addr, request) = stand_in_on(listener, |mut stream| {
        let request = read_request(&stream);
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .expect("write");
        request
    });
    let port = addr.port().to_string();
    let run = run(&["::1", &port]);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "HTTP/1.1 204 No Content\r\n\r\n");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert_eq!(first, format!("::1 resolves to [::1]:{port}"));
    // In a Host header, as in a URL, an IPv6 address goes in brackets.
    let request = request.recv_timeout(timeout()).expect("the request");
    assert!(
        request.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
        "{request:?}"
    );
}

#[test]
fn a_closed_stdout_is_reported_in_one_line() {
    // Like `| head -0`: nobody can read the response, and printing it fails
    // with EPIPE. The client says so and fails; it does not panic.
    let (addr, _) = stand_in(|mut stream| {
        read_request(&stream);
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .expect("write");
    });
    let mut command = Command::new(CLIENT);
    command.args(["127.0.0.1", &addr.port().to_string()]);
    let run = conventions::run_with_closed_stdout(command, b"");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stderr.lines().last(),
        Some("could not print the response: Broken pipe (os error 32)")
    );
}

#[test]
fn a_refused_connection_is_reported_in_one_line() {
    let port = unused_port();
    let run = run(&["127.0.0.1", &port.to_string()]);
    assert_eq!(run.code(), 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "127.0.0.1 resolves to 127.0.0.1:{port}\n\
             could not connect to 127.0.0.1:{port}: Connection refused (os error 111)\n"
        )
    );
    Transcript::new("transcripts/refused.console")
        .command("cargo run -p ch03-tcp-client -- 127.0.0.1 5000")
        .output(&run.stderr)
        .show_port(port, 5000)
        .check();
}

#[test]
fn an_unknown_host_is_reported_in_one_line() {
    // .invalid is reserved (RFC 2606): no such name exists anywhere. Whether
    // DNS answers "no such name" or cannot be reached, resolution fails; the
    // resolver options keep a lookup with no reachable DNS server short.
    let mut command = Command::new(CLIENT);
    command
        .args(["no-such-host.invalid", "80"])
        .env("RES_OPTIONS", "timeout:1 attempts:1");
    let mut process = Process::spawn(command);
    process.close_stdin();
    let run = process.finish();
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("could not resolve no-such-host.invalid: "),
        "{}",
        run.stderr
    );
}

#[test]
fn a_server_whose_queue_is_full_times_out_on_connect() {
    // A listener with a backlog of 0 queues one connection that nobody
    // accepts; Linux then drops the SYNs of the next ones, so their
    // connect() gets no answer at all, as from a host that is down.
    let listener =
        Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    listener.listen(0).expect("listen");
    let addr = listener
        .local_addr()
        .expect("local_addr")
        .as_socket()
        .expect("IPv4");
    let _queued = Client::connect(addr);

    let run = run(&["127.0.0.1", &addr.port().to_string(), "0.3"]);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            format!("could not connect to {addr}: no answer within 0.3 s")
                .as_str()
        )
    );
}

#[test]
fn a_server_that_never_answers_times_out_on_read() {
    let (hold, release) = mpsc::channel::<()>();
    let (addr, _) = stand_in(move |stream| {
        read_request(&stream);
        // Say nothing, and keep the connection open until the client is done.
        let _ = release.recv_timeout(timeout());
        drop(stream);
    });
    let run = run(&["127.0.0.1", &addr.port().to_string(), "0.3"]);
    drop(hold);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            format!("could not read from {addr}: nothing came within 0.3 s")
                .as_str()
        )
    );
}

#[test]
fn a_reset_in_the_middle_of_the_response_is_reported_after_what_came() {
    let (addr, _) = stand_in(|mut stream| {
        read_request(&stream);
        stream.write_all(b"HTTP/1.1 200 OK\r\n").expect("write");
        Client::from_stream(stream).reset();
    });
    let run = run(&["127.0.0.1", &addr.port().to_string()]);
    assert_eq!(run.code(), 1);
    assert_eq!(run.stdout, "HTTP/1.1 200 OK\r\n");
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            format!("could not read from {addr}: Connection reset by peer (os error 104)").as_str()
        )
    );
}

#[test]
fn bad_arguments_print_usage() {
    for args in [
        vec![],
        vec!["--help"],
        vec!["example.com", "http"],
        vec!["example.com", "70000"],
        vec!["example.com", "80", "0"],
        vec!["example.com", "80", "soon"],
        vec!["example.com", "80", "1", "extra"],
    ] {
        let run = run(&args);
        assert_eq!(run.code(), 2, "{args:?}");
        assert_eq!(
            run.stderr,
            "usage: ch03-tcp-client HOST [PORT] [TIMEOUT_SECONDS]\n"
        );
    }
}
