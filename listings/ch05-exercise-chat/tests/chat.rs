//! The checks for exercise 5-1. They fail on the unchanged starter and pass
//! once every line reaches every other client, under the sender's name.

use std::io::Read;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use testkit::{Client, Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-exercise-chat");

/// Connects a client, reads the two-line welcome, and returns the client
/// with the name the others know it by at first: its address.
fn join(server: &Server) -> (Client, String) {
    let mut client = server.connect();
    assert!(client.read_line().starts_with("Welcome"));
    client.read_line();
    let name = client.local_addr().to_string();
    (client, name)
}

/// Nothing more arrives for `client`.
fn hears_nothing(client: &mut Client) -> bool {
    client.is_silent_for(Duration::from_millis(100))
}

#[test]
fn a_line_is_answered_to_its_sender_and_given_to_everyone_else() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (mut ken, _) = join(&server);
    let (mut bob, _) = join(&server);

    ada.send_line("hello, all");
    assert_eq!(ada.read_line(), "OK ... hello, all\n");
    assert_eq!(ken.read_line(), format!("{ada_name}: hello, all\n"));
    assert_eq!(bob.read_line(), format!("{ada_name}: hello, all\n"));
    // The sender does not get its own line back a second time.
    assert!(hears_nothing(&mut ada));
}

#[test]
fn nick_changes_the_name_the_others_see() {
    let server = Server::start(SERVER);
    let (mut ada, _) = join(&server);
    let (mut ken, ken_name) = join(&server);

    ada.send_line("/nick Ada");
    assert_eq!(ada.read_line(), "OK ... you are now Ada\n");
    // Choosing a name is not news for the others.
    assert!(hears_nothing(&mut ken));

    ada.send_line("it is me");
    assert_eq!(ada.read_line(), "OK ... it is me\n");
    assert_eq!(ken.read_line(), "Ada: it is me\n");

    // The others keep their addresses as names until they pick one.
    ken.send_line("hi Ada");
    assert_eq!(ken.read_line(), "OK ... hi Ada\n");
    assert_eq!(ada.read_line(), format!("{ken_name}: hi Ada\n"));
}

#[test]
fn lines_reach_the_others_in_the_order_they_were_sent() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (mut ken, _) = join(&server);
    ada.send(b"one\ntwo\nthree\n");
    for word in ["one", "two", "three"] {
        assert_eq!(ada.read_line(), format!("OK ... {word}\n"));
        assert_eq!(ken.read_line(), format!("{ada_name}: {word}\n"));
    }
}

#[test]
fn a_client_that_left_is_left_out_and_the_others_still_hear_each_other() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (gone, _) = join(&server);
    let (mut ken, ken_name) = join(&server);
    drop(gone);

    ada.send_line("anyone left?");
    assert_eq!(ada.read_line(), "OK ... anyone left?\n");
    assert_eq!(ken.read_line(), format!("{ada_name}: anyone left?\n"));
    ken.send_line("me");
    assert_eq!(ken.read_line(), "OK ... me\n");
    assert_eq!(ada.read_line(), format!("{ken_name}: me\n"));
}

#[test]
fn a_client_that_joins_later_hears_only_what_is_said_after() {
    let server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    ada.send_line("before");
    assert_eq!(ada.read_line(), "OK ... before\n");
    let (mut ken, _) = join(&server);
    assert!(hears_nothing(&mut ken));
    ada.send_line("after");
    assert_eq!(ada.read_line(), "OK ... after\n");
    assert_eq!(ken.read_line(), format!("{ada_name}: after\n"));
}

#[test]
fn a_client_that_never_reads_is_dropped_and_the_others_chat_on() {
    let mut server = Server::start(SERVER);
    let (mut ada, ada_name) = join(&server);
    let (mut bob, bob_name) = join(&server);
    // Ken has a small receive buffer and never reads. Everything Ada says
    // piles up for him: in his buffers, then in the server's queue for him.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .expect("connect");
    let ken = TcpStream::from(socket);

    // Ada and Bob read all the time, on threads of their own.
    let drain = |client: &Client| {
        let mut stream = client.stream().try_clone().expect("clone");
        thread::spawn(move || {
            let mut sink = [0u8; 65536];
            while matches!(stream.read(&mut sink), Ok(1..)) {}
        })
    };
    drain(&ada);
    drain(&bob);

    let batch = "words that Ken will never read\n".repeat(500);
    let mut rounds = 0;
    while !server
        .process()
        .stdout()
        .contains(" bytes of replies unread")
    {
        rounds += 1;
        assert!(rounds < 5_000, "Ken was never dropped");
        ada.send(batch.as_bytes());
    }
    let log = server.process().stdout();
    let ken_addr = ken.local_addr().expect("local_addr");
    assert!(
        log.contains(&format!(": {ken_addr} dropped: ")),
        "someone else was dropped:\n{log}"
    );
    drop(ken);

    // Ada and Bob are still there, and a newcomer hears them both (after
    // the rest of Ada's words, which the server may still be passing on).
    let (mut carol, _) = join(&server);
    ada.send_line("still here?");
    loop {
        let line = carol.read_line();
        if line == format!("{ada_name}: still here?\n") {
            break;
        }
        assert_eq!(
            line,
            format!("{ada_name}: words that Ken will never read\n")
        );
    }
    bob.send_line("yes");
    assert_eq!(carol.read_line(), format!("{bob_name}: yes\n"));
}
