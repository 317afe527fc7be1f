//! The original's UDP client doing what chapter 6 says it does, and Listing
//! 6-2 talking to the original's server.
//!
//! The stand-in servers here answer at most once per datagram and never
//! answer a server, so nothing can keep two programs sending to each other;
//! every process is killed when its test ends.

use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

use regex::Regex;
use testkit::kernel::assert_asleep_during;
use testkit::php::{Original, php};
use testkit::udp::{self, receive_from};
use testkit::{Process, Transcript, timeout};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch06-udp-client");

/// The original's client, sending to `port` on loopback instead of 9999.
fn original_client(port: u16) -> Original {
    Original::of(&["16-udp-client"]).edit(
        "$port = 9999;",
        &format!("$port = {port};"),
        1,
    )
}

/// The original's server, on loopback and `port` instead of 0.0.0.0:9999.
fn original_server(port: u16) -> Original {
    Original::of(&["15-udp-server"]).edit(
        "\"0.0.0.0\", 9999",
        &format!("\"127.0.0.1\", {port}"),
        1,
    )
}

/// A stand-in server's socket on loopback, with the kit's read timeout.
fn stand_in() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(timeout()))
        .expect("read timeout");
    let port = socket.local_addr().expect("local_addr").port();
    (socket, port)
}

const PROMPT: &str = "Enter a message to send : ";

/// Backs ch06-udp.md#wrong-udp-client-waits: no reply comes, and the
/// original's client sleeps on in `socket_recv()`, where Listing 6-2 gives
/// up after one second.
#[test]
fn the_original_client_waits_for_a_lost_reply_with_no_end() {
    let Some(php) = php() else { return };
    let (server, port) = stand_in();
    let mut client = php.spawn(&original_client(port), &[]);
    client.write_stdin(b"hello\n");
    // The message arrives; the stand-in never answers it.
    assert_eq!(receive_from(&server).0, b"hello\n");
    assert_asleep_during(client.pid(), Duration::from_secs(3));
    assert!(!client.has_exited(), "the client gave up");
    assert_eq!(client.stdout(), format!("Socket created \n{PROMPT}"));
}

/// Backs ch06-udp.md#wrong-udp-client-waits: a datagram from another port
/// than the server's is printed as the server's reply.
#[test]
fn the_original_client_takes_a_strangers_datagram_for_the_reply() {
    let Some(php) = php() else { return };
    let (server, port) = stand_in();
    let mut client = php.spawn(&original_client(port), &[]);
    client.write_stdin(b"hello\n");
    let (message, sender) = receive_from(&server);
    assert_eq!(message, b"hello\n");
    // Not the server: another socket, which sends once and never answers.
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("bind");
    stranger
        .send_to(b"OK from a stranger\n", sender)
        .expect("send_to");
    client.wait_for_stdout(&format!("Reply : OK from a stranger\n{PROMPT}"));
}

/// Backs ch06-udp.md#wrong-udp-msg-waitall: `socket_recv($sock, $reply,
/// 2045, MSG_WAITALL)` returns a reply of 6 bytes at once; on a UDP socket,
/// "wait for all 2045" means nothing.
#[test]
fn msg_waitall_does_not_make_the_original_client_wait_for_2045_bytes() {
    let Some(php) = php() else { return };
    let (server, port) = stand_in();
    let mut client = php.spawn(&original_client(port), &[]);
    client.write_stdin(b"hi\n");
    let (_, sender) = receive_from(&server);
    server.send_to(b"OK hi\n", sender).expect("send_to");
    // The reply is printed and the next message asked for, with the input
    // still open: the client did not wait for more.
    client.wait_for_stdout(&format!(
        "Socket created \n{PROMPT}Reply : OK hi\n{PROMPT}"
    ));
    assert!(!client.has_exited());
}

/// Backs ch06-udp.md#wrong-udp-client-end-of-input: an empty line is sent
/// with its newline, but when `fgets()` returns false at the end of the
/// input, the client sends that as an empty datagram, takes the 0 bytes sent
/// for a failure, says so, and exits with status 0.
#[test]
fn at_the_end_of_its_input_the_original_client_sends_an_empty_datagram_and_says_it_failed()
 {
    let Some(php) = php() else { return };
    let (server, port) = stand_in();
    let answer = thread::spawn(move || {
        for expected in [&b"hello\n"[..], b"\n"] {
            let (message, sender) = receive_from(&server);
            assert_eq!(message, expected);
            let reply = [&b"OK "[..], &message].concat();
            server.send_to(&reply, sender).expect("send_to");
        }
        // The end of the input: an empty datagram, not answered.
        receive_from(&server).0
    });
    let run = php.run(&original_client(port), b"hello\n\n");
    let last = answer.join().expect("the stand-in server");
    assert_eq!(last, b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "Socket created \n{PROMPT}Reply : OK hello\n{PROMPT}Reply : OK \n\
             {PROMPT}Could not send data: [0] Success \n"
        )
    );
    assert_eq!(run.stderr, "");
}

/// Listing 6-2 against the original's server: the replies are right, and
/// the server's log runs its lines together, since our datagrams carry no
/// newline.
#[test]
fn the_books_client_talks_to_the_original_server() {
    let Some(php) = php() else { return };
    let port = udp::unused_port();
    let server = php.spawn(&original_server(port), &[]);
    server.wait_for_stdout("Waiting for data ...");
    let run = Process::run(
        CLIENT,
        [format!("127.0.0.1:{port}")],
        b"hello\nhow are you?\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "Reply : OK hello\nReply : OK how are you?\n");
    assert_eq!(run.stderr, "");

    server.wait_for_stdout("how are you?Waiting for data ... \n");
    // The client's port changes from run to run; the book shows 41234.
    let sender = Regex::new(r"127\.0\.0\.1 : \d+ -- ").expect("regex");
    let log = sender
        .replace_all(&server.stdout(), "127.0.0.1 : 41234 -- ")
        .into_owned();
    assert_eq!(
        log,
        "Socket created \n\
         Socket bind OK \n\
         Waiting for data ... \n\
         127.0.0.1 : 41234 -- helloWaiting for data ... \n\
         127.0.0.1 : 41234 -- how are you?Waiting for data ... \n"
    );
    Transcript::new("transcripts/original-server.console")
        .command("php original/php/15-udp-server.php")
        .output(&log)
        .check();
}

/// Backs ch06-udp.md#wrong-udp-reply-cut: the original's server cuts its
/// reply to a long message to 100 bytes, and Listing 6-2, which waits for
/// `OK ` and the whole message, does not take it for the reply.
#[test]
fn the_original_servers_cut_reply_is_not_the_reply_listing_6_2_waits_for() {
    let Some(php) = php() else { return };
    let port = udp::unused_port();
    let server = php.spawn(&original_server(port), &[]);
    server.wait_for_stdout("Waiting for data ...");
    let mut line = "z".repeat(150);
    line.push('\n');
    let run =
        Process::run(CLIENT, [format!("127.0.0.1:{port}")], line.as_bytes());
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "skipping a late reply: OK {}\n\
             no reply from 127.0.0.1:{port} within 1s: the message or its reply was lost\n",
            "z".repeat(97)
        )
    );
}
