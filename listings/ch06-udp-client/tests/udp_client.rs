//! Listing 6-2 behaves as chapter 6 says: one datagram per line, one reply
//! printed per line; a lost message is reported after a timeout instead of
//! waiting forever; a late reply is not taken for the next one; and its
//! connect() keeps strangers out and turns "port unreachable" into an error.
//! At a terminal, it asks for each message as the original does.

use std::fs::File;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use nix::fcntl::OFlag;
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use testkit::udp::{self, receive_from, stand_in};
use testkit::{Process, Server, Transcript, conventions, timeout, wait_until};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch06-udp-client");

#[test]
fn a_session_with_the_books_server_matches_the_book() {
    let server = Server::start(testkit::bin("ch06-udp-server"));
    let run = Process::run(
        CLIENT,
        [server.addr().to_string()],
        b"hello\nhow are you?\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "Reply : OK hello\nReply : OK how are you?\n");
    assert_eq!(run.stderr, "");
    Transcript::new("transcripts/session.console")
        .command(
            "printf 'hello\\nhow are you?\\n' | cargo run -p ch06-udp-client",
        )
        .output(&run.stdout)
        .check();
}

/// A pseudo-terminal, standing for the terminal window a person types in:
/// what the test writes to it is what the person types, and `screen` is
/// what the window shows (the program's output and the echo of the typing).
struct Terminal {
    master: PtyMaster,
    /// The terminal's path, `/dev/pts/N`, for the program to open.
    path: String,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn open() -> Terminal {
        let master =
            posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
                .expect("open a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let path = ptsname_r(&master).expect("ptsname");
        let mut reader =
            File::from(master.as_fd().try_clone_to_owned().expect("dup"));
        let screen = Arc::new(Mutex::new(Vec::new()));
        let shown = Arc::clone(&screen);
        // Reads until the program's side is closed (then read fails: EIO).
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = reader.read(&mut chunk) {
                let mut screen =
                    shown.lock().unwrap_or_else(|e| e.into_inner());
                screen.extend_from_slice(&chunk[..read]);
            }
        });
        Terminal {
            master,
            path,
            screen,
        }
    }

    /// What the window shows, with the terminal's `\r\n` as `\n`.
    fn screen(&self) -> String {
        let screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&screen).replace("\r\n", "\n")
    }

    /// Waits until `text` is on the screen `count` times.
    fn wait_for(&self, text: &str, count: usize) {
        let shown = wait_until(timeout(), || {
            self.screen().matches(text).count() == count
        });
        assert!(
            shown,
            "expected {text:?} {count} times on {:?}",
            self.screen()
        );
    }

    fn type_in(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type into the terminal");
    }
}

#[test]
fn at_a_terminal_the_client_asks_for_each_message() {
    let server = Server::start(testkit::bin("ch06-udp-server"));
    let mut terminal = Terminal::open();
    // The client's stdin and stdout are the terminal; stderr stays the test's.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "exec \"$0\" \"$1\" <\"$2\" >\"$2\"",
        CLIENT,
        &server.addr().to_string(),
        &terminal.path,
    ]);
    let client = Process::spawn(command);
    let prompt = "Enter a message to send : ";
    terminal.wait_for(prompt, 1);
    terminal.type_in(b"hello\n");
    terminal.wait_for(prompt, 2);
    terminal.type_in(b"how are you?\n");
    terminal.wait_for(prompt, 3);
    // Ctrl-D at the start of a line: the end of the input.
    terminal.type_in(b"\x04");
    let run = client.finish();
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_eq!(
        terminal.screen(),
        "Enter a message to send : hello\n\
         Reply : OK hello\n\
         Enter a message to send : how are you?\n\
         Reply : OK how are you?\n\
         Enter a message to send : "
    );
    Transcript::new("transcripts/terminal.console")
        .command("cargo run -p ch06-udp-client")
        .output(&terminal.screen())
        .check();
}

#[test]
fn each_line_is_one_datagram_without_its_line_ending() {
    let (addr, server) = stand_in(|socket| {
        for expected in [&b"first"[..], b"", b"from telnet"] {
            let (message, client) = receive_from(&socket);
            assert_eq!(message, expected);
            let reply = [&b"OK "[..], &message].concat();
            socket.send_to(&reply, client).expect("send_to");
        }
        socket
    });
    let run =
        Process::run(CLIENT, [addr.to_string()], b"first\n\nfrom telnet\r\n");
    let socket = server.join().expect("the stand-in server");
    // Nothing more came: the end of the input is not sent. (On loopback, a
    // datagram is in the receiver's queue by the time send() returns, and
    // the client has exited.)
    socket.set_nonblocking(true).expect("non-blocking");
    let nothing = socket.recv(&mut [0u8; 16]).expect_err("no more datagrams");
    assert_eq!(nothing.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Reply : OK first\nReply : OK \nReply : OK from telnet\n"
    );
}

#[test]
fn a_lost_message_is_reported_and_the_client_goes_on() {
    let (addr, server) = stand_in(|socket| {
        // The first datagram is "lost": received, never answered.
        let (lost, _) = receive_from(&socket);
        assert_eq!(lost, b"lost in the network");
        let (message, client) = receive_from(&socket);
        socket
            .send_to(&[&b"OK "[..], &message].concat(), client)
            .expect("send_to");
    });
    // Through `sh`, with stderr sent into stdout, so that the output keeps
    // the order in which a terminal shows it.
    let mut command = Command::new("sh");
    command.args(["-c", "exec \"$0\" \"$1\" 2>&1", CLIENT, &addr.to_string()]);
    let mut client = Process::spawn(command);
    client.write_stdin(b"lost in the network\nthis one arrives\n");
    client.close_stdin();
    let run = client.finish();
    server.join().expect("the stand-in server");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "no reply from {addr} within 1s: the message or its reply was lost\n\
             Reply : OK this one arrives\n"
        )
    );
    Transcript::new("transcripts/lost.console")
        .command(
            "printf 'lost in the network\\nthis one arrives\\n' | cargo run -p ch06-udp-client",
        )
        .output(&run.stdout)
        .show_port(addr.port(), 9999)
        .check();
}

#[test]
fn a_late_reply_is_not_taken_for_the_next_one() {
    let (addr, server) = stand_in(|socket| {
        let (_, client) = receive_from(&socket);
        // The client has given up on "one" once "two" arrives. Now the
        // reply to "one" comes, late, just before the reply to "two".
        let (two, _) = receive_from(&socket);
        assert_eq!(two, b"two");
        socket.send_to(b"OK one", client).expect("send_to");
        socket.send_to(b"OK two", client).expect("send_to");
    });
    let run = Process::run(CLIENT, [addr.to_string()], b"one\ntwo\n");
    server.join().expect("the stand-in server");
    assert_eq!(run.stdout, "Reply : OK two\n");
    assert_eq!(
        run.stderr,
        format!(
            "no reply from {addr} within 1s: the message or its reply was lost\n\
             skipping a late reply: OK one\n"
        )
    );
}

#[test]
fn a_connected_client_takes_no_datagrams_from_strangers() {
    let (addr, server) = stand_in(|socket| {
        let (_, client) = receive_from(&socket);
        // Another socket sends the very reply the client waits for. The
        // client's kernel does not deliver it: the socket is connected to
        // the server, and this is not the server. No other socket has that
        // port, so the kernel answers "port unreachable".
        let stranger = UdpSocket::bind("127.0.0.1:0").expect("bind");
        stranger.connect(client).expect("connect");
        stranger.set_read_timeout(Some(timeout())).expect("timeout");
        stranger.send(b"OK hello").expect("send");
        let refused = stranger.recv(&mut [0u8; 16]).expect_err("refused");
        assert_eq!(refused.raw_os_error(), Some(111), "{refused}");
    });
    let run = Process::run(CLIENT, [addr.to_string()], b"hello\n");
    server.join().expect("the stand-in server");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn no_server_at_the_address_is_an_error_at_once_not_a_timeout() {
    // connect() made the socket hear the ICMP "port unreachable" that the
    // kernel sends back; recv() reports it as "Connection refused".
    let port = udp::unused_port();
    let addr = format!("127.0.0.1:{port}");
    let run = Process::run(CLIENT, [&addr], b"anyone there?\n");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not receive from {addr}: Connection refused (os error 111)\n"
        )
    );
    Transcript::new("transcripts/refused.console")
        .command("printf 'anyone there?\\n' | cargo run -p ch06-udp-client")
        .output(&run.stderr)
        .show_port(port, 9999)
        .check();
}

#[test]
fn a_line_too_long_for_one_datagram_is_reported() {
    let server = Server::start(testkit::bin("ch06-udp-server"));
    let mut input = vec![b'x'; 65_508];
    input.push(b'\n');
    let run = Process::run(CLIENT, [server.addr().to_string()], &input);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not send to {}: Message too long (os error 90)\n",
            server.addr()
        )
    );
}

#[test]
fn the_longest_message_gets_the_reply_the_server_cut_to_fit() {
    let server = Server::start(testkit::bin("ch06-udp-server"));
    let mut input = vec![b'y'; 65_507];
    input.push(b'\n');
    let run = Process::run(CLIENT, [server.addr().to_string()], &input);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("Reply : OK {}\n", "y".repeat(65_504)));
}

#[test]
fn an_address_that_does_not_resolve_is_reported() {
    let run = Process::run(CLIENT, ["localhost:http"], b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        "could not resolve localhost:http: invalid port value\n"
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        CLIENT,
        &[&["--help"], &["127.0.0.1:9999", "extra"]],
        "usage: ch06-udp-client [ADDR]",
    );
}

/// Backs ch06-udp.md#stopped-and-continued: Ctrl-Z and `fg` while the
/// client waits for a reply make recv() fail with EINTR, which is no
/// reason to stop.
#[test]
fn a_client_stopped_and_continued_while_it_waits_goes_on_waiting() {
    udp::assert_a_client_stopped_and_continued_while_it_waits_goes_on(CLIENT);
}

/// Backs ch06-udp.md#who-a-udp-server-answers.
#[test]
fn a_message_that_begins_like_a_reply_is_not_sent() {
    let server = Server::start(testkit::bin("ch06-udp-server"));
    let run = Process::run(
        CLIENT,
        [server.addr().to_string()],
        b"OK computer\nhello\n",
    );
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "Reply : OK hello\n");
    assert_eq!(
        run.stderr,
        "not sent: a message must not begin with \"OK \", as a reply does\n"
    );
}

#[test]
fn a_stray_datagram_is_shown_escaped() {
    udp::assert_a_stray_datagram_is_shown_escaped(CLIENT);
}

#[test]
fn a_closed_stdout_stops_the_client_with_one_line_and_status_1() {
    let server = Server::start(testkit::bin("ch06-udp-server"));
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"hello\nhow are you?\n",
        "could not write to stdout",
    );
}
