//! The UDP programs of chapter 6, from outside: a test's own sockets, a
//! stand-in server, a server whose log the test reads through a bounded
//! pipe, and the checks that Listing 6-1 and the servers built on it (the
//! chat exercise), or Listing 6-2 and the clients built on it (the
//! retransmit exercise), must each pass.
//!
//! A UDP server that answers its own replies can write hundreds of
//! megabytes of log a second: a [`LoggedServer`] keeps the first 64 KiB of
//! its log and only counts the rest, so that its test survives the defect it
//! looks for, and reports it. Every server here is killed when its test
//! ends, so that even a server caught in a loop cannot fill the memory or
//! the disk.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::pipes::{UnreadPipe, closed_pipe, pipe};
use crate::{
    Helper, Process, Server, pidfd, procfs, skip, spawn_helper, timeout,
    wait_until,
};

/// A loopback UDP port on which, a moment ago, nothing was bound; like
/// [`crate::unused_port`], below the ports the kernel hands out to sockets
/// bound to port 0, so that no other test's socket takes it meanwhile.
#[track_caller]
pub fn unused_port() -> u16 {
    crate::net::free_port(|port| UdpSocket::bind(("127.0.0.1", port)).is_ok())
}

/// A client socket on loopback, connected to `server`, with the kit's
/// read timeout.
#[track_caller]
pub fn client(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(server).expect("connect");
    socket
        .set_read_timeout(Some(timeout()))
        .expect("read timeout");
    socket
}

/// Receives one datagram (the whole of it) on a connected socket; fails the
/// test if none comes within the socket's timeout.
#[track_caller]
pub fn receive(socket: &UdpSocket) -> Vec<u8> {
    receive_from(socket).0
}

/// Receives one datagram (the whole of it) and returns it with its sender.
#[track_caller]
pub fn receive_from(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = vec![0u8; 65_536];
    let (received, sender) = match socket.recv_from(&mut buffer) {
        Ok(datagram) => datagram,
        Err(err) => panic!(
            "no datagram on {} within {:?}: {err}",
            socket
                .local_addr()
                .map_or_else(|_| "the socket".to_string(), |a| a.to_string()),
            socket.read_timeout().ok().flatten().unwrap_or_default()
        ),
    };
    buffer.truncate(received);
    (buffer, sender)
}

/// A stand-in server: a socket on loopback, with the kit's read timeout,
/// and a thread that runs `serve` on it.
#[track_caller]
pub fn stand_in<T: Send + 'static>(
    serve: impl FnOnce(UdpSocket) -> T + Send + 'static,
) -> (SocketAddr, Helper<T>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(timeout()))
        .expect("read timeout");
    let addr = socket.local_addr().expect("local_addr");
    (addr, spawn_helper(move || serve(socket)))
}

/// For a [`stand_in`]: answers every datagram with `OK ` and the message,
/// as Listing 6-1 does, until none comes for the kit's timeout.
pub fn answer_all(socket: UdpSocket) {
    let mut buffer = vec![0u8; 65_536];
    while let Ok((received, client)) = socket.recv_from(&mut buffer) {
        let reply = [&b"OK "[..], &buffer[..received]].concat();
        let _ = socket.send_to(&reply, client);
    }
}

/// How much of a server's log a [`LoggedServer`] keeps.
const KEPT: usize = 64 * 1024;

#[derive(Default)]
struct Log {
    /// The first KEPT bytes.
    kept: Vec<u8>,
    /// How many bytes the server has written in all.
    total: usize,
}

/// A server started on `127.0.0.1:0` whose stdout is a pipe the test reads,
/// keeping at most 64 KiB of it.
pub struct LoggedServer {
    process: Process,
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl LoggedServer {
    #[track_caller]
    pub fn start(program: &str) -> LoggedServer {
        let (reader, writer) = pipe();
        let mut command = Command::new(program);
        command.arg("127.0.0.1:0");
        let process = Process::spawn_with_stdout(command, Stdio::from(writer));
        let log = Arc::new(Mutex::new(Log::default()));
        let filler = Arc::clone(&log);
        // Reads until the server is gone (then its end of the pipe closes).
        thread::spawn(move || {
            let mut reader = File::from(reader);
            let mut chunk = [0u8; 8192];
            while let Ok(read @ 1..) = reader.read(&mut chunk) {
                let mut log = filler.lock().unwrap_or_else(|e| e.into_inner());
                log.total += read;
                let room = KEPT.saturating_sub(log.kept.len());
                log.kept.extend_from_slice(&chunk[..read.min(room)]);
            }
        });
        let mut server = LoggedServer {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let first = server.wait_for_lines(1).remove(0);
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok());
        let Some(addr) = addr else {
            panic!("expected `listening on <addr>`, got {first:?}");
        };
        server.addr = addr;
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    #[track_caller]
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The complete lines of the log the test kept.
    #[track_caller]
    pub fn lines(&self) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&log.kept);
        let complete = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
        complete.lines().map(str::to_string).collect()
    }

    /// How many bytes of log the server has written in all.
    pub fn log_size(&self) -> usize {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// Waits until the log has at least `count` lines, and returns them.
    #[track_caller]
    pub fn wait_for_lines(&mut self, count: usize) -> Vec<String> {
        let logged = wait_until(timeout(), || self.lines().len() >= count);
        assert!(
            logged,
            "the server logged {:?} in {:?}, not {count} lines\nstderr: {}",
            self.lines(),
            timeout(),
            self.process.stderr()
        );
        self.lines()
    }
}

/// Checks that none of `servers` uses more than a little CPU, or writes
/// anything to its log, for one second: they are waiting, not answering
/// each other.
#[track_caller]
pub fn assert_quiet(servers: &[&LoggedServer]) {
    let before: Vec<_> = servers
        .iter()
        .map(|server| (procfs::cpu_time(server.pid()), server.log_size()))
        .collect();
    thread::sleep(Duration::from_secs(1));
    for (server, (cpu, log)) in servers.iter().zip(before) {
        let used = procfs::cpu_time(server.pid()).saturating_sub(cpu);
        let logged = server.log_size() - log;
        assert!(
            used < Duration::from_millis(100),
            "{} used {used:?} of CPU in a second, and logged {logged} bytes",
            server.addr()
        );
        assert_eq!(logged, 0, "{} went on logging", server.addr());
    }
}

/// Starts `program` on a port the test chose, with `stdout` as its standard
/// output (a pipe nobody reads, say), and returns once it answers: nobody
/// may be there to read its `listening on` line.
#[track_caller]
pub fn start_with_stdout(
    program: &str,
    stdout: Stdio,
) -> (Process, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], unused_port()));
    let mut command = Command::new(program);
    command.arg(addr.to_string());
    let mut server = Process::spawn_with_stdout(command, stdout);
    // A socket of its own, so that late answers to its pings cannot be taken
    // for the answers the test waits for later.
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
    probe.connect(addr).expect("connect");
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let answered = wait_until(timeout(), || {
        assert!(
            !server.has_exited(),
            "the server exited: {}",
            server.stderr()
        );
        // Until it has bound its port, ping is refused (or lost).
        if probe.send(b"ping").is_err() {
            return false;
        }
        let mut reply = [0u8; 16];
        match probe.recv(&mut reply) {
            Ok(received) => &reply[..received] == b"OK ping",
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::WouldBlock
                ) =>
            {
                false
            }
            Err(err) => panic!("could not ping the server: {err}"),
        }
    });
    assert!(answered, "the server did not answer within {:?}", timeout());
    (server, addr)
}

// ---------------------------------------------------------------------------
// What Listing 6-1, and every server built on it, must do.

/// A datagram forged with the server's own address (sent through a copy of
/// its socket, see [`pidfd`]) is logged and not answered: the reply would
/// go to the server itself, and so on for ever. Returns the server, whose
/// log is `listening on` and that one line; `None`, having said why, where
/// the test cannot copy the server's socket.
#[track_caller]
pub fn assert_its_own_address_is_not_answered(
    program: &str,
) -> Option<LoggedServer> {
    let mut server = LoggedServer::start(program);
    let own = match pidfd::copy_udp_socket(server.pid(), server.addr()) {
        Ok(socket) => socket,
        Err(why) => {
            skip(&why);
            return None;
        }
    };
    own.send_to(b"hello", server.addr()).expect("send_to");
    server.wait_for_lines(2);
    assert_quiet(&[&server]);
    assert_eq!(
        server.lines(),
        [
            format!("listening on {}", server.addr()),
            format!(
                "{} -- hello (not answered: it comes from this server's \
                 own address)",
                server.addr()
            ),
        ]
    );
    Some(server)
}

/// One datagram, `hello`, to a first server, forged with the address of a
/// second one: the first answers the request, the second does not answer
/// the reply, and both fall quiet. Returns both servers (first, second),
/// whose logs say so; `None`, having said why, where the test cannot copy
/// the second server's socket.
#[track_caller]
pub fn assert_two_servers_pointed_at_each_other_answer_at_most_once(
    program: &str,
) -> Option<(LoggedServer, LoggedServer)> {
    let mut first = LoggedServer::start(program);
    let mut second = LoggedServer::start(program);
    let forger = match pidfd::copy_udp_socket(second.pid(), second.addr()) {
        Ok(socket) => socket,
        Err(why) => {
            skip(&why);
            return None;
        }
    };
    // "hello", to the first server, from the second server's address.
    forger.send_to(b"hello", first.addr()).expect("send_to");
    first.wait_for_lines(2);
    second.wait_for_lines(2);
    assert_quiet(&[&first, &second]);
    // The first answers the request; the second does not answer the reply.
    assert_eq!(first.lines()[1..], [format!("{} -- hello", second.addr())]);
    assert_eq!(
        second.lines()[1..],
        [format!(
            "{} -- OK hello (not answered: it is a reply)",
            first.addr()
        )]
    );
    Some((first, second))
}

/// A datagram that begins with `OK `, as a reply does, is logged and not
/// answered; the next one is.
#[track_caller]
pub fn assert_a_datagram_that_looks_like_a_reply_is_not_answered(
    program: &str,
) {
    let mut server = Server::start(program);
    let socket = client(server.addr());
    let me = socket.local_addr().expect("local_addr");
    socket.send(b"OK hello").expect("send");
    socket.send(b"hello").expect("send");
    // The first datagram to come back answers the second: had the server
    // answered the first, `OK OK hello` would have come first.
    crate::assert_bytes_eq!(receive(&socket), b"OK hello");
    assert_eq!(
        server.next_line(),
        format!("{me} -- OK hello (not answered: it is a reply)")
    );
    assert_eq!(server.next_line(), format!("{me} -- hello"));
}

/// What a client sends reaches the log escaped, on one line: an escape
/// sequence cannot drive the operator's terminal, nor a newline forge a
/// line. The reply is the message itself.
#[track_caller]
pub fn assert_what_a_client_sends_is_escaped_in_the_log(program: &str) {
    let mut server = Server::start(program);
    let socket = client(server.addr());
    let me = socket.local_addr().expect("local_addr");
    socket.send(b"\x1b[31mred\nforged line").expect("send");
    crate::assert_bytes_eq!(receive(&socket), b"OK \x1b[31mred\nforged line");
    assert_eq!(
        server.next_line(),
        format!("{me} -- \\x1b[31mred\\nforged line")
    );
}

/// A message of 1000 bytes is logged cut to 512, with its length; the
/// reply has all of it.
#[track_caller]
pub fn assert_a_long_message_is_cut_in_the_log_but_not_in_the_reply(
    program: &str,
) {
    let mut server = Server::start(program);
    let socket = client(server.addr());
    let me = socket.local_addr().expect("local_addr");
    let message = [b'x'; 1000];
    socket.send(&message).expect("send");
    crate::assert_bytes_eq!(receive(&socket), [&b"OK "[..], &message].concat());
    assert_eq!(
        server.next_line(),
        format!("{me} -- {}... (1000 bytes)", "x".repeat(512))
    );
}

/// Sends one datagram as large as a datagram can be, then 200 of 1000
/// bytes, all of bytes that the log must escape, and checks that each is
/// answered: far more log than a pipe holds.
#[track_caller]
fn assert_serves_many(server: SocketAddr) {
    let socket = client(server);
    let largest = vec![0xff; 65_507];
    socket.send(&largest).expect("send");
    let reply = receive(&socket);
    crate::assert_bytes_eq!(
        reply[..3],
        b"OK ",
        "the reply to {} bytes",
        largest.len()
    );
    for number in 0..200 {
        let message = vec![b'\x1b'.wrapping_add(number as u8); 1000];
        socket.send(&message).expect("send");
        crate::assert_bytes_eq!(
            receive(&socket),
            [&b"OK "[..], &message].concat(),
            "the reply to message {number}"
        );
    }
}

/// With its log a pipe whose reader is gone, the server answers on (and
/// keeps running).
#[track_caller]
pub fn assert_it_goes_on_when_its_log_is_a_closed_pipe(program: &str) {
    let (mut server, addr) = start_with_stdout(program, closed_pipe().into());
    assert_serves_many(addr);
    assert!(!server.has_exited(), "{}", server.stderr());
}

/// With its log a pipe of one page that nobody reads, the server answers
/// on long after the pipe is full.
#[track_caller]
pub fn assert_it_goes_on_when_nobody_reads_its_log(program: &str) {
    let pipe = UnreadPipe::one_page();
    let (mut server, addr) = start_with_stdout(program, pipe.writer().into());
    assert_serves_many(addr);
    assert!(pipe.is_full(), "the log fills the pipe");
    assert!(!server.has_exited(), "{}", server.stderr());
}

// ---------------------------------------------------------------------------
// What Listing 6-2, and every client built on it, must do.

/// The client sends a line and waits for the reply; stopped and continued
/// meanwhile, as Ctrl-Z and `fg` do (its recv() then fails with `EINTR`), it
/// goes on waiting, and prints the reply when it comes.
#[track_caller]
pub fn assert_a_client_stopped_and_continued_while_it_waits_goes_on(
    program: &str,
) {
    let (addr, server) = stand_in(|socket| {
        let (message, client) = receive_from(&socket);
        (socket, message, client)
    });
    let mut command = Command::new(program);
    command.arg(addr.to_string());
    let mut client = Process::spawn(command);
    client.write_stdin(b"hello\n");
    client.close_stdin();
    let (socket, message, sender) = server.joined("the stand-in server");
    crate::assert_bytes_eq!(message, b"hello");
    // The message has arrived: the client sleeps in recv() (state S) for
    // the reply. Stop it and let it go on, as Ctrl-Z and `fg` do.
    procfs::wait_for_state(client.pid(), 'S');
    client.signal(Signal::SIGSTOP);
    procfs::wait_for_state(client.pid(), 'T');
    client.signal(Signal::SIGCONT);
    // Only now does the reply come.
    socket.send_to(b"OK hello", sender).expect("send_to");
    let run = client.finish();
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout, "Reply : OK hello\n");
    assert_eq!(run.code(), 0);
}

/// A datagram that is not the reply the client waits for (a late or a
/// stray one) is shown escaped on stderr, and skipped; the reply is
/// printed.
#[track_caller]
pub fn assert_a_stray_datagram_is_shown_escaped(program: &str) {
    let (addr, server) = stand_in(|socket| {
        let (_, client) = receive_from(&socket);
        socket
            .send_to(b"OK \x1b[31mred\nforged", client)
            .expect("send_to");
        socket.send_to(b"OK hello", client).expect("send_to");
    });
    let run = Process::run(program, [addr.to_string()], b"hello\n");
    server.joined("the stand-in server");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "Reply : OK hello\n");
    assert_eq!(
        run.stderr,
        "skipping a late reply: OK \\x1b[31mred\\nforged\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_that_answers_all_answers_with_ok() {
        let (addr, _server) = stand_in(answer_all);
        let socket = client(addr);
        socket.send(b"ping").expect("send");
        crate::assert_bytes_eq!(receive(&socket), b"OK ping");
    }
}
