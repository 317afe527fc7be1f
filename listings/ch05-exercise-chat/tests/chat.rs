//! The checks for exercise 5-1. They fail on the unchanged starter and pass
//! once every line reaches every other client, under the sender's name.
//!
//! A test never waits to see that nothing more arrives. To check what a
//! client has been given, it sends `/nick` with the name it already has: the
//! answer comes after every line the server took before, so the lines read
//! before that answer are all the client was given, and a server that does
//! not pass lines on fails at the first line, at once.

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::thread;

use socket2::{Domain, Socket, Type};
use testkit::{Client, Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-exercise-chat");

/// The bound of the page: past this many bytes waiting for a client, it is
/// dropped.
const MAX_UNSENT: usize = 64 * 1024;

/// Connects a client, reads the two-line welcome, and returns the client
/// with the name the others know it by at first: its address.
fn join(server: &Server) -> (Client, String) {
    let mut client = server.connect();
    assert!(client.read_line().starts_with("Welcome"));
    client.read_line();
    let name = client.local_addr().to_string();
    (client, name)
}

/// Checks that `client`, whose name is `name`, has been given exactly
/// `lines` since it last checked, and nothing more. It sends `/nick` with
/// the name it has, and reads until the answer.
#[track_caller]
fn assert_heard(client: &mut Client, name: &str, lines: &[String]) {
    client.send_line(&format!("/nick {name}"));
    for line in lines {
        assert_eq!(&client.read_line(), line, "what {name} was given");
    }
    assert_eq!(
        client.read_line(),
        format!("OK ... you are now {name}\n"),
        "{name} was given more than the test expected, or its /nick was \
         not answered"
    );
}

/// Sends `line` for `client`, and checks the answer it gets.
#[track_caller]
fn say(client: &mut Client, line: &str) {
    client.send_line(line);
    assert_eq!(client.read_line(), format!("OK ... {line}\n"));
}

/// Reads and throws away everything `client` is sent, on a thread of its
/// own, until the connection ends.
fn drain(client: &Client) {
    let mut stream = client.stream().try_clone().expect("clone");
    thread::spawn(move || {
        let mut sink = [0u8; 65536];
        while matches!(stream.read(&mut sink), Ok(1..)) {}
    });
}

#[test]
fn a_line_is_answered_to_its_sender_and_given_to_everyone_else() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (mut ken, ken_name) = join(&server);
    let (mut bob, bob_name) = join(&server);

    say(&mut ada, "hello, all");
    let heard = [format!("{ada_name}: hello, all\n")];
    assert_heard(&mut ken, &ken_name, &heard);
    assert_heard(&mut bob, &bob_name, &heard);
    // The sender does not get its own line back a second time.
    assert_heard(&mut ada, &ada_name, &[]);
}

#[test]
fn nick_changes_the_name_the_others_see() {
    let server = Server::start(SERVER);
    let (mut ada, _) = join(&server);
    let (mut ken, ken_name) = join(&server);

    ada.send_line("/nick Ada");
    assert_eq!(ada.read_line(), "OK ... you are now Ada\n");
    // Choosing a name is not news for the others.
    assert_heard(&mut ken, &ken_name, &[]);

    say(&mut ada, "it is me");
    assert_heard(&mut ken, &ken_name, &["Ada: it is me\n".to_string()]);

    // The others keep their addresses as names until they pick one.
    say(&mut ken, "hi Ada");
    assert_heard(&mut ada, "Ada", &[format!("{ken_name}: hi Ada\n")]);
}

#[test]
fn lines_reach_the_others_in_the_order_they_were_sent() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (mut ken, ken_name) = join(&server);
    ada.send(b"one\ntwo\nthree\n");
    for word in ["one", "two", "three"] {
        assert_eq!(ada.read_line(), format!("OK ... {word}\n"));
    }
    let heard = ["one", "two", "three"].map(|w| format!("{ada_name}: {w}\n"));
    assert_heard(&mut ken, &ken_name, &heard);
}

#[test]
fn a_client_that_left_is_left_out_and_the_others_still_hear_each_other() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (gone, _) = join(&server);
    let (mut ken, ken_name) = join(&server);
    drop(gone);

    say(&mut ada, "anyone left?");
    assert_heard(
        &mut ken,
        &ken_name,
        &[format!("{ada_name}: anyone left?\n")],
    );
    say(&mut ken, "me");
    assert_heard(&mut ada, &ada_name, &[format!("{ken_name}: me\n")]);
}

#[test]
fn a_client_that_joins_later_hears_only_what_is_said_after() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    say(&mut ada, "before");
    let (mut ken, ken_name) = join(&server);
    assert_heard(&mut ken, &ken_name, &[]);
    say(&mut ada, "after");
    assert_heard(&mut ken, &ken_name, &[format!("{ada_name}: after\n")]);
}

/// The connection from port `local` to port `remote` on loopback, as
/// `/proc/net/tcp` shows it (see proc(5)): its state (1 while it is
/// established, another number once its side is closed), the bytes in its
/// send queue (written, not yet acknowledged) and in its receive queue
/// (received, not yet read). `None` if there is no such connection.
fn tcp_row(table: &str, local: u16, remote: u16) -> Option<(u8, usize, usize)> {
    let local = format!(":{local:04X} ");
    let remote = format!(":{remote:04X} ");
    table.lines().find_map(|row| {
        // Fields: sl, local address, remote address, state, queues...
        let (_, rest) = row.split_once(&local)?;
        let rest = rest.split_once(&remote)?.1;
        let mut fields = rest.split_whitespace();
        let state = u8::from_str_radix(fields.next()?, 16).ok()?;
        let (send, receive) = fields.next()?.split_once(':')?;
        let send = usize::from_str_radix(send, 16).ok()?;
        let receive = usize::from_str_radix(receive, 16).ok()?;
        Some((state, send, receive))
    })
}

#[test]
fn a_client_that_never_reads_is_dropped_and_the_others_chat_on() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (mut bob, bob_name) = join(&server);
    // Ken has a small receive buffer. He reads his welcome, and then never
    // reads again: everything Ada says piles up for him, in the kernel's
    // buffers (his and the server's), then in the server's queue for him.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.set_tcp_mss(536).expect("TCP_MAXSEG");
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .expect("connect");
    let mut ken = Client::from_stream(TcpStream::from(socket));
    assert!(ken.read_line().starts_with("Welcome"));
    ken.read_line();
    let ken_addr = ken.local_addr();

    // Ada speaks, 50 lines at a time. Once Bob has heard them, the server
    // has queued them for Ken too, or dropped him. What it holds for Ken is
    // what it queued, less what the kernel took: the bytes in the server's
    // send queue and in Ken's receive queue.
    let mut queued = 0;
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 1_000, "Ken was never dropped");
        let lines: Vec<String> = (0..50)
            .map(|n| format!("words that Ken will never read, {round}.{n}"))
            .collect();
        ada.send(format!("{}\n", lines.join("\n")).as_bytes());
        for line in &lines {
            assert_eq!(ada.read_line(), format!("OK ... {line}\n"));
        }
        let heard: Vec<String> =
            lines.iter().map(|l| format!("{ada_name}: {l}\n")).collect();
        assert_heard(&mut bob, &bob_name, &heard);
        queued += heard.iter().map(String::len).sum::<usize>();

        let table = fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        let port = server.port();
        let server_side = tcp_row(&table, port, ken_addr.port());
        let ken_side = tcp_row(&table, ken_addr.port(), port);
        let (Some((1, in_send, _)), Some((_, _, in_receive))) =
            (server_side, ken_side)
        else {
            break; // the server has closed its side: Ken was dropped
        };
        // The row is read while the server may still pass bytes on, so
        // `held` is never more than what it held when this round began.
        let held = queued.saturating_sub(in_send + in_receive);
        assert!(
            held <= MAX_UNSENT,
            "the server holds {held} bytes for Ken, who never reads, more \
             than MAX_UNSENT ({MAX_UNSENT}), and has not dropped him"
        );
    }
    drop(ken);

    // Ada and Bob are still there, and a newcomer hears them both.
    let (mut carol, carol_name) = join(&server);
    say(&mut ada, "still here?");
    assert_heard(&mut bob, &bob_name, &[format!("{ada_name}: still here?\n")]);
    say(&mut bob, "yes");
    let heard = [
        format!("{ada_name}: still here?\n"),
        format!("{bob_name}: yes\n"),
    ];
    assert_heard(&mut carol, &carol_name, &heard);
}

#[test]
fn a_burst_of_empty_lines_does_not_drop_a_client_that_reads() {
    // Every empty line Ada sends, one byte, becomes a line of her name and
    // a colon for Ken: many times the bytes. Ken reads all the time, so he
    // must get them all.
    let server = Server::start(SERVER);
    let (mut ada, _) = join(&server);
    let (mut ken, ken_name) = join(&server);
    let ada_name = "Ada, whose name is rather long for a chat";
    ada.send_line(&format!("/nick {ada_name}"));
    assert_eq!(ada.read_line(), format!("OK ... you are now {ada_name}\n"));
    assert_heard(&mut ken, &ken_name, &[]);

    drain(&ada);
    let burst = 32 * 1024;
    ada.send(&vec![b'\n'; burst]);
    ada.send_line("done");
    for _ in 0..burst {
        assert_eq!(ken.read_line(), format!("{ada_name}: \n"));
    }
    assert_eq!(ken.read_line(), format!("{ada_name}: done\n"));
}
