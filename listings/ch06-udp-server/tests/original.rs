//! The original's UDP server doing what chapter 6 says it does, and the
//! original's client talking to Listing 6-1.
//!
//! The original's server answers every datagram, so no test sends it a
//! datagram from its own address, and only one points another server at it:
//! Listing 6-1, which does not answer a reply, and so ends the exchange.
//! Every process is killed when its test ends.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use testkit::php::{Original, php};
use testkit::udp::{self, LoggedServer, assert_quiet, receive};
use testkit::{Server, Transcript, pidfd, procfs, skip, timeout, wait_until};

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-udp-server");

/// The original's server, on loopback and `port` instead of 0.0.0.0:9999.
fn original_server(port: u16) -> Original {
    Original::of(&["15-udp-server"]).edit(
        "\"0.0.0.0\", 9999",
        &format!("\"127.0.0.1\", {port}"),
        1,
    )
}

/// The original's client, sending to `port` on loopback instead of 9999.
fn original_client(port: u16) -> Original {
    Original::of(&["16-udp-client"]).edit(
        "$port = 9999;",
        &format!("$port = {port};"),
        1,
    )
}

/// A program of the original without its `error_reporting(~E_WARNING)`, so
/// that PHP's warnings are printed (to stderr).
fn with_warnings(program: Original) -> Original {
    program.edit("error_reporting(~E_WARNING);", "", 1)
}

/// Backs ch06-udp.md#wrong-udp-reply-cut.
#[test]
fn the_original_server_keeps_512_bytes_of_a_message_and_replies_with_100() {
    let Some(php) = php() else { return };
    let port = udp::unused_port();
    let server = php.spawn(&original_server(port), &[]);
    server.wait_for_stdout("Waiting for data ...");
    let socket = udp::client(SocketAddr::from(([127, 0, 0, 1], port)));

    // A short message comes back whole.
    socket.send(b"hello\n").expect("send");
    assert_eq!(receive(&socket), b"OK hello\n");

    // 200 bytes: the reply is the first 100 bytes of "OK " and the message.
    let message = [b'x'; 200];
    socket.send(&message).expect("send");
    assert_eq!(receive(&socket), [&b"OK "[..], &message[..97]].concat());

    // 600 bytes: the server receives the first 512 and logs them, and no
    // more: what it prints next ("Waiting for data") follows at once.
    let long: Vec<u8> =
        (0..600).map(|index| b'a' + (index % 26) as u8).collect();
    socket.send(&long).expect("send");
    assert_eq!(receive(&socket), [&b"OK "[..], &long[..97]].concat());
    let kept = String::from_utf8_lossy(&long[..512]).into_owned();
    server.wait_for_stdout(&format!(" -- {kept}Waiting for data ... \n"));
}

/// Backs ch06-udp.md#wrong-udp-client-end-of-input: the original's client
/// against Listing 6-1 (the two talk), to the end of its input.
#[test]
fn the_original_client_talks_to_the_books_server_until_its_input_ends() {
    let Some(php) = php() else { return };
    let mut server = Server::start(SERVER);
    let run =
        php.run(&original_client(server.port()), b"hello\nhow are you?\n");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Socket created \n\
         Enter a message to send : Reply : OK hello\n\
         Enter a message to send : Reply : OK how are you?\n\
         Enter a message to send : Could not send data: [0] Success \n"
    );
    assert_eq!(run.stderr, "");

    // Three datagrams: two lines, and at the end of the input an empty one.
    let log: Vec<String> = (0..3).map(|_| server.next_line()).collect();
    let (peer, _) = log[0].split_once(" -- ").expect("sender -- message");
    assert_eq!(
        log,
        [
            format!("{peer} -- hello"),
            format!("{peer} -- how are you?"),
            format!("{peer} -- "),
        ]
    );

    Transcript::new("transcripts/original-client.console")
        .command("printf 'hello\\nhow are you?\\n' | php original/php/16-udp-client.php")
        .output(&run.stdout)
        .check();
    Transcript::new("transcripts/original-client-log.console")
        .command("cargo run -p ch06-udp-server")
        .output(&format!(
            "listening on {}\n{}",
            server.addr(),
            log.join("\n")
        ))
        .show_port(server.port(), 9999)
        .check();
}

/// Backs ch06-udp.md#wrong-udp-errors: a port in use is reported on stdout,
/// with exit status 0; the warning that `error_reporting(~E_WARNING)` hides
/// says the same.
#[test]
fn the_original_server_reports_a_port_in_use_on_stdout_and_exits_0() {
    let Some(php) = php() else { return };
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("local_addr").port();
    let expected = "Socket created \nCould not bind socket : [98] Address already in use \n";

    let run = php.run(&original_server(port), b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, expected);
    assert_eq!(run.stderr, "");

    let run = php.run(&with_warnings(original_server(port)), b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, expected);
    assert!(
        run.stderr.starts_with(
            "PHP Warning:  socket_bind(): Unable to bind address [98]: Address already in use"
        ),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

/// Backs ch06-udp.md#wrong-udp-errors: with `error_reporting(~E_WARNING)`
/// taken out, neither the cut reply nor the end of the input raises a
/// warning. The original's client talks to the original's server here; the
/// client answers nothing, so the two cannot keep each other busy.
#[test]
fn without_error_reporting_the_cuts_and_the_end_of_input_raise_no_warning() {
    let Some(php) = php() else { return };
    let port = udp::unused_port();
    let server = php.spawn(&with_warnings(original_server(port)), &[]);
    server.wait_for_stdout("Waiting for data ...");

    let mut line = "y".repeat(600);
    line.push('\n');
    let run = php.run(&with_warnings(original_client(port)), line.as_bytes());
    assert_eq!(run.code(), 0, "{run:?}");
    // The reply is cut to 100 bytes, newline and all: the next prompt
    // follows it on the same line.
    assert_eq!(
        run.stdout,
        format!(
            "Socket created \n\
             Enter a message to send : Reply : OK {}\
             Enter a message to send : Could not send data: [0] Success \n",
            "y".repeat(97)
        )
    );
    assert_eq!(run.stderr, "");

    // The server has logged both datagrams (the second is the empty one).
    let logged = wait_until(timeout(), || {
        server.stdout().matches("Waiting for data ...").count() == 3
    });
    assert!(logged, "{:?}", server.stdout());
    assert_eq!(server.stderr(), "");
}

/// Backs ch06-udp.md#wrong-udp-answers-everything: a datagram forged with
/// the original server's address makes Listing 6-1 answer it, the original
/// answers the answer (it answers everything, replies included), and
/// Listing 6-1 does not answer that: the exchange stops after one round.
#[test]
fn the_books_server_ends_an_exchange_the_original_server_would_keep_up() {
    let Some(php) = php() else { return };
    let port = udp::unused_port();
    let original = php.spawn(&original_server(port), &[]);
    original.wait_for_stdout("Waiting for data ...");
    let mut ours = LoggedServer::start(SERVER);
    let original_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let forger = match pidfd::copy_udp_socket(original.pid(), original_addr) {
        Ok(socket) => socket,
        Err(why) => return skip(&why),
    };
    forger.send_to(b"hello", ours.addr()).expect("send_to");
    let from = format!("127.0.0.1:{port}");
    ours.wait_for_lines(3);
    assert_quiet(&[&ours]);
    let used = procfs::cpu_used_during(original.pid(), Duration::from_secs(1));
    assert!(
        used < Duration::from_millis(100),
        "the original used {used:?}"
    );
    assert_eq!(
        ours.lines()[1..],
        [
            format!("{from} -- hello"),
            format!("{from} -- OK OK hello (not answered: it is a reply)"),
        ]
    );
    assert_eq!(original.stdout().matches(" -- OK hello").count(), 1);
}
