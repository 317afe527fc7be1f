//! The original's TCP client (its steps "create a socket", "connect",
//! "send", "receive" and the closing `socket_close($sock);`, run as one
//! program), doing what chapter 3 says it does, against the book's server
//! and against stand-ins that speak HTTP, as the original expects. And
//! Listing 3-1 against the original's server.
//!
//! The original connects to 74.125.235.20, port 80, an address of Google's;
//! every test here edits that to a server of its own on loopback.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use testkit::php::{Original, php};
use testkit::tcp_queues::queues;
use testkit::{
    Process, Server, Transcript, kernel, timeout, unused_port, wait_until,
};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch03-tcp-client");

/// The original's client, connecting to port `port` of 127.0.0.1.
fn original_client(port: u16) -> Original {
    Original::of(&[
        "05-tcp-client-create",
        "06-tcp-client-connect",
        "07-tcp-client-send",
        "08-tcp-client-receive",
    ])
    .then("<?php socket_close($sock); ?>")
    .edit("'74.125.235.20' , 80", &format!("'127.0.0.1' , {port}"), 1)
}

/// What the original's client prints before the response.
const PROGRESS: &str =
    "Socket createdConnection established \nMessage send successfully \n";

/// A stand-in web server's listener on loopback.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    (listener, port)
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

/// Starts the original's client against a stand-in, accepts it, reads its
/// request and sends `response`, keeping the connection open. Returns the
/// client, once it is asleep waiting for more, and the stand-in's side.
fn original_client_waiting_after(
    response: &[u8],
) -> Option<(Process, TcpStream)> {
    let php = php()?;
    let (listener, port) = listener();
    let client = php.spawn(&original_client(port), &[]);
    let (mut stream, peer) = testkit::accept(&listener);
    read_request(&stream);
    stream.write_all(response).expect("write the response");
    // The response has reached the client's socket once its kernel has
    // acknowledged every byte.
    let local = stream.local_addr().expect("local_addr");
    assert!(wait_until(timeout(), || {
        queues(local, peer).is_some_and(|queues| queues.send == 0)
    }));
    client.wait_for_stdout("Message send successfully");
    kernel::assert_asleep_during(client.pid(), Duration::from_millis(300));
    Some((client, stream))
}

/// How many sockets `pid` has open.
fn open_sockets(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .flatten()
        .filter(|entry| {
            fs::read_link(entry.path()).is_ok_and(|target| {
                target.to_string_lossy().starts_with("socket:")
            })
        })
        .count()
}

/// The original's client against Listing 3-2: it sends its request line,
/// the server answers it and closes.
#[test]
fn the_original_client_talks_to_our_line_server() {
    let Some(php) = php() else { return };
    let server = Server::start(testkit::bin("ch03-tcp-server-once"));
    let run = php.run(&original_client(server.port()), b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, format!("{PROGRESS}OK .. GET / HTTP/1.1\n"));
    assert_eq!(run.stderr, "");
    Transcript::new("transcripts/original-client.console")
        .command("php tcp-client.php")
        .output(&run.stdout)
        .check();
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-tcp-client: the request has
/// no Host header. A stand-in web server answers it anyway, and closes.
#[test]
fn the_original_client_sends_no_host_header() {
    let Some(php) = php() else { return };
    let (listener, port) = listener();
    let client = php.spawn(&original_client(port), &[]);
    let (mut stream, _) = testkit::accept(&listener);
    assert_eq!(read_request(&stream), "GET / HTTP/1.1\r\n\r\n");
    let response = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";
    stream.write_all(response.as_bytes()).expect("write");
    drop(stream);
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, format!("{PROGRESS}{response}"));
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-tcp-client: one
/// `socket_recv()` of 2045 bytes, and the rest of the response is lost.
#[test]
fn the_original_client_prints_no_more_than_2045_bytes() {
    let Some(php) = php() else { return };
    let (listener, port) = listener();
    let client = php.spawn(&original_client(port), &[]);
    let (mut stream, _) = testkit::accept(&listener);
    read_request(&stream);
    let body = "x".repeat(5000);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{body}"
    );
    stream.write_all(response.as_bytes()).expect("write");
    drop(stream);
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    let printed = run.stdout.strip_prefix(PROGRESS).expect("progress first");
    assert_eq!(printed, &response[..2045]);
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-tcp-client: with
/// `MSG_WAITALL`, a response shorter than 2045 bytes is not printed while
/// the server keeps the connection open, as HTTP/1.1 servers do by default.
#[test]
fn the_original_client_waits_for_a_short_response_until_the_server_closes() {
    let response = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
    let Some((client, stream)) =
        original_client_waiting_after(response.as_bytes())
    else {
        return;
    };
    // The whole response is in the client's socket; it prints none of it.
    assert_eq!(client.stdout(), PROGRESS);
    drop(stream);
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, format!("{PROGRESS}{response}"));
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-tcp-client: the program calls
/// `socket_create()` twice, but the second assignment to `$sock` frees the
/// first socket, so only one is open while the client waits for its reply.
#[test]
fn the_original_client_has_one_socket_open_not_two() {
    let Some((client, _stream)) =
        original_client_waiting_after(b"HTTP/1.1 200 OK\r\n")
    else {
        return;
    };
    assert_eq!(open_sockets(client.pid()), 1);
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-tcp-client: `socket_send()`
/// returns a count, 0 for nothing sent and fewer bytes than asked when the
/// socket takes no more; `if (!socket_send(...))` takes only the first for a
/// failure.
#[test]
fn socket_send_returns_how_many_bytes_it_sent() {
    let Some(php) = php() else { return };
    let run = php.eval(
        r#"socket_create_pair(AF_UNIX, SOCK_STREAM, 0, $pair);
        var_dump(socket_send($pair[0], "", 0, 0));
        socket_set_nonblock($pair[0]);
        $many = str_repeat("x", 10000000);
        $sent = socket_send($pair[0], $many, strlen($many), 0);
        var_dump(is_int($sent) && $sent > 0 && $sent < strlen($many));"#,
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "int(0)\nbool(true)\n");
}

/// Listing 3-1 against the original's server: the server answers whatever
/// its one read returned, the whole request, and answers it twice.
#[test]
fn our_client_gets_the_original_servers_answer_twice() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let program = Original::of(&[
        "09-tcp-server-create-bind",
        "10-tcp-server-listen",
        "11-tcp-server-accept",
        "12-tcp-server-read-write",
    ])
    .edit("5000", &port.to_string(), 1);
    let server = php.spawn(&program, &[]);
    server.wait_for_stdout("Waiting for incoming connections");
    let run = Process::run(CLIENT, ["127.0.0.1", &port.to_string()], b"");
    assert_eq!(run.code(), 0, "{run:?}");
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(run.stdout, format!("OK .. {request}OK .. {request}"));
}
