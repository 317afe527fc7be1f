//! Listing 13-1 stops gracefully on SIGTERM or SIGINT: it stops accepting,
//! tells every client after the replies it is owed, waits a bounded time
//! for them to leave, and exits with status 0.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use socket2::{Domain, Socket, Type};
use testkit::select_server::{round_trip, welcomed};
use testkit::{Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch13-tokio-server");
const GOODBYE: &str = "Sorry, the server is shutting down. Goodbye.\n";
/// The server's GRACE: how long it waits for its clients to leave.
const GRACE: Duration = Duration::from_secs(3);
/// The server's LINGER: how long a client told to leave may stay.
const LINGER: Duration = Duration::from_secs(2);

#[test]
fn sigterm_tells_every_client_after_its_replies_and_exits_when_they_leave() {
    let mut server = Server::start(SERVER);
    let addr = server.addr();
    let mut clients: Vec<_> = (0..3).map(|_| welcomed(&server)).collect();
    for client in &mut clients {
        round_trip(client, "before the end");
    }
    // A line sent just before the signal is still answered.
    clients[0].send_line("last words");
    assert_eq!(clients[0].read_line(), "OK ... last words\n");

    server.process().signal(Signal::SIGTERM);
    server
        .process()
        .wait_for_stdout("SIGTERM: telling 3 clients to leave\n");
    for client in &mut clients {
        assert_eq!(client.read_line(), GOODBYE);
        client.expect_closed();
    }
    // The listener is closed: nobody new gets in.
    assert!(TcpStream::connect(addr).is_err());
    let started = Instant::now();
    drop(clients);
    let mut process = server.into_process();
    let status = process.wait_exit(timeout());
    assert_eq!(status.code(), Some(0), "{}", process.stderr());
    assert!(
        started.elapsed() < GRACE,
        "the server took {:?} to exit although its clients had left",
        started.elapsed()
    );
    assert!(
        process.stdout().ends_with("shut down\n"),
        "{}",
        process.stdout()
    );
}

#[test]
fn a_client_that_stays_after_the_goodbye_is_let_go_after_two_seconds() {
    let mut server = Server::start(SERVER);
    let mut stays = welcomed(&server);
    round_trip(&mut stays, "I am not leaving");
    let signalled = Instant::now();
    server.process().signal(Signal::SIGINT);
    assert_eq!(stays.read_line(), GOODBYE);
    // It hears the goodbye, reads the end of the stream, and stays.
    stays.expect_closed();
    let mut process = server.into_process();
    let status = process.wait_exit(GRACE + Duration::from_secs(1));
    assert_eq!(status.code(), Some(0), "{}", process.stderr());
    assert!(signalled.elapsed() >= LINGER - Duration::from_millis(100));
    let log = process.stdout();
    assert!(
        log.ends_with(&format!(
            "{} dropped: did not close within 2 s of its goodbye\nshut down\n",
            stays.local_addr()
        )),
        "{log}"
    );
}

#[test]
fn a_client_that_never_reads_holds_the_server_back_no_longer_than_the_grace_period()
 {
    let mut server = Server::start(SERVER);
    let mut polite = welcomed(&server);
    // The hog never reads: once its buffers and the server's are full, its
    // task waits in a write, where no goodbye can reach it.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), timeout())
        .expect("connect");
    let mut hog = TcpStream::from(socket);
    hog.set_nonblocking(true).expect("non-blocking");
    let batch = format!("{}\n", "h".repeat(999)).repeat(16);
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < timeout(), "the hog was never held back");
        match hog.write(batch.as_bytes()) {
            Ok(written) if written == batch.len() => {}
            Ok(_) => break,
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) => panic!("the hog was cut off: {err}"),
        }
        // Paced by the polite client's replies, so that the server keeps
        // up and the hog's write stops only when the server stops reading.
        round_trip(&mut polite, "paced");
    }
    drop(polite);
    let signalled = Instant::now();
    server.process().signal(Signal::SIGTERM);
    let mut process = server.into_process();
    let status = process.wait_exit(GRACE + Duration::from_secs(2));
    assert_eq!(status.code(), Some(0), "{}", process.stderr());
    assert!(signalled.elapsed() >= GRACE - Duration::from_millis(100));
    let log = process.stdout();
    assert!(
        log.ends_with("shut down; 1 client did not leave within 3 s\n"),
        "{log}"
    );
}

#[test]
fn with_no_client_it_exits_at_once() {
    let mut server = Server::start(SERVER);
    let started = Instant::now();
    server.process().signal(Signal::SIGTERM);
    let mut process = server.into_process();
    assert_eq!(process.wait_exit(timeout()).code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        process.stdout().lines().skip(1).collect::<Vec<_>>(),
        ["SIGTERM: telling 0 clients to leave", "shut down"]
    );
}
