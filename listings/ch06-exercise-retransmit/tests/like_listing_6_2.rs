//! What the starter (Listing 6-2) already does right, and the solution
//! must keep doing: survive Ctrl-Z and `fg` while it waits, stop in one
//! line when its output is closed, never send a message that looks like a
//! reply, and show a stray datagram escaped. The starter passes these; the
//! exercise's own checks are in `retransmit.rs`.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::thread::{self, JoinHandle};

use nix::sys::signal::Signal;
use testkit::{Process, conventions, procfs, timeout, wait_until};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch06-exercise-retransmit");

/// A stand-in server: a socket on loopback and a thread that runs `serve`.
fn stand_in<T: Send + 'static>(
    serve: impl FnOnce(UdpSocket) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(timeout()))
        .expect("read timeout");
    let addr = socket.local_addr().expect("local_addr");
    (addr, thread::spawn(move || serve(socket)))
}

/// Receives one datagram and returns it with its sender.
fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = vec![0u8; 65_536];
    let (received, sender) = socket.recv_from(&mut buffer).expect("a datagram");
    buffer.truncate(received);
    (buffer, sender)
}

/// Answers every datagram with `OK ` and the message, until none comes for
/// the kit's timeout.
fn answer_all(socket: UdpSocket) {
    let mut buffer = vec![0u8; 65_536];
    while let Ok((received, client)) = socket.recv_from(&mut buffer) {
        let reply = [&b"OK "[..], &buffer[..received]].concat();
        let _ = socket.send_to(&reply, client);
    }
}

/// Waits until process `pid` is in state `state` (`S` asleep, `T` stopped).
fn wait_for_state(pid: u32, state: char) {
    let reached = wait_until(timeout(), || {
        procfs::stat(pid).is_some_and(|stat| stat.state == state)
    });
    assert!(reached, "process {pid} never reached state {state}");
}

#[test]
fn a_client_stopped_and_continued_while_it_waits_goes_on_waiting() {
    let (addr, server) = stand_in(|socket| {
        let (message, client) = receive(&socket);
        (socket, message, client)
    });
    let mut command = Command::new(CLIENT);
    command.arg(addr.to_string());
    let mut client = Process::spawn(command);
    client.write_stdin(b"hello\n");
    client.close_stdin();
    let (socket, message, sender) = server.join().expect("the stand-in");
    assert_eq!(message, b"hello");
    // The message has arrived: the client sleeps in recv() (state S) for
    // the reply. Stop it and let it go on, as Ctrl-Z and `fg` do.
    wait_for_state(client.pid(), 'S');
    client.signal(Signal::SIGSTOP);
    wait_for_state(client.pid(), 'T');
    client.signal(Signal::SIGCONT);
    // Only now does the reply come.
    socket.send_to(b"OK hello", sender).expect("send_to");
    let run = client.finish();
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout, "Reply : OK hello\n");
    assert_eq!(run.code(), 0);
}

#[test]
fn a_closed_stdout_stops_the_client_with_one_line_and_status_1() {
    let (addr, _server) = stand_in(answer_all);
    let mut command = Command::new(CLIENT);
    command.arg(addr.to_string());
    conventions::assert_a_closed_stdout_is_reported(
        command,
        b"hello\nhow are you?\n",
        "could not write to stdout",
    );
}

#[test]
fn a_message_that_begins_like_a_reply_is_not_sent() {
    let (addr, server) = stand_in(|socket| {
        let (message, client) = receive(&socket);
        socket
            .send_to(&[&b"OK "[..], &message].concat(), client)
            .expect("send_to");
        message
    });
    let run = Process::run(CLIENT, [addr.to_string()], b"OK computer\nhello\n");
    // The first datagram to arrive was the second line.
    assert_eq!(server.join().expect("the stand-in"), b"hello");
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stdout, "Reply : OK hello\n");
    assert_eq!(
        run.stderr,
        "not sent: a message must not begin with \"OK \", as a reply does\n"
    );
}

#[test]
fn a_stray_datagram_is_shown_escaped() {
    let (addr, server) = stand_in(|socket| {
        let (_, client) = receive(&socket);
        socket
            .send_to(b"OK \x1b[31mred\nforged", client)
            .expect("send_to");
        socket.send_to(b"OK hello", client).expect("send_to");
    });
    let run = Process::run(CLIENT, [addr.to_string()], b"hello\n");
    server.join().expect("the stand-in server");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "Reply : OK hello\n");
    assert_eq!(
        run.stderr,
        "skipping a late reply: OK \\x1b[31mred\\nforged\n"
    );
}
