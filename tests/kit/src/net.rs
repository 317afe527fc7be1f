//! A test's side of a TCP connection: every read and write has a timeout, and
//! every failure says what the test was waiting for.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::SockRef;

use crate::timeout;

/// A connected client with read and write timeouts.
pub struct Client {
    reader: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Client {
    /// Connects to `addr`, failing the test if that takes longer than [`timeout()`].
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        match Client::try_connect(addr) {
            Ok(client) => client,
            Err(err) => panic!("could not connect to {addr}: {err}"),
        }
    }

    /// Connects to `addr`, returning the error instead of failing the test.
    #[track_caller]
    pub fn try_connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, timeout())?;
        set_timeouts(&stream);
        Ok(Client {
            reader: BufReader::new(stream),
            addr,
        })
    }

    /// Wraps a stream the test already has (a stand-in server's side, say),
    /// setting the same timeouts.
    #[track_caller]
    pub fn from_stream(stream: TcpStream) -> Client {
        let addr = stream.peer_addr().expect("a connected socket has a peer");
        set_timeouts(&stream);
        Client {
            reader: BufReader::new(stream),
            addr,
        }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// This end's address (the one the server sees as its peer).
    #[track_caller]
    pub fn local_addr(&self) -> SocketAddr {
        self.stream()
            .local_addr()
            .expect("a connected socket has a local address")
    }

    /// Sets how long reads may wait (the default is [`timeout()`]).
    #[track_caller]
    pub fn set_read_timeout(&self, limit: Duration) {
        self.stream()
            .set_read_timeout(Some(limit))
            .expect("set_read_timeout");
    }

    /// Writes all of `bytes`.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        if let Err(err) = self.reader.get_mut().write_all(bytes) {
            panic!(
                "could not send {} bytes to {}: {err}",
                bytes.len(),
                self.addr
            );
        }
    }

    /// Writes `line` and a newline.
    #[track_caller]
    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes());
    }

    /// Reads one line, newline included; fails the test on timeout or if the
    /// server closed the connection first.
    #[track_caller]
    pub fn read_line(&mut self) -> String {
        let mut bytes = Vec::new();
        match self.reader.read_until(b'\n', &mut bytes) {
            Ok(0) => panic!(
                "{} closed the connection instead of sending a line",
                self.addr
            ),
            Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => {
                let sent = if bytes.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; it sent {}, with no newline",
                        crate::show_bytes(&bytes)
                    )
                };
                panic!("no line from {} {}{sent}", self.addr, ran_out(&err))
            }
        }
    }

    /// Reads one line (`None` at end of stream).
    #[track_caller]
    pub fn try_read_line(&mut self) -> io::Result<Option<String>> {
        let mut bytes = Vec::new();
        match self.reader.read_until(b'\n', &mut bytes)? {
            0 => Ok(None),
            _ => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        }
    }

    /// Reads the greeting of the book's forking and prefork servers (chapters
    /// 8 to 10), `You are connected to process <pid>`, and returns the pid.
    #[track_caller]
    pub fn read_greeting_pid(&mut self) -> u32 {
        let line = self.read_line();
        let pid = line
            .strip_prefix("You are connected to process ")
            .and_then(|pid| pid.trim_end().parse().ok());
        let Some(pid) = pid else {
            panic!(
                "expected `You are connected to process <pid>` from {}, got \
                 {line:?}",
                self.addr
            );
        };
        pid
    }

    /// Reads exactly `len` bytes; fails the test otherwise.
    #[track_caller]
    pub fn read_exact(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        if let Err(err) = self.reader.read_exact(&mut bytes) {
            panic!(
                "could not read {len} bytes from {} {}",
                self.addr,
                ran_out(&err)
            );
        }
        bytes
    }

    /// Reads until the server closes the connection; fails the test if it
    /// does not within the timeout.
    #[track_caller]
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        if let Err(err) = self.reader.read_to_end(&mut bytes) {
            panic!(
                "{} did not close the connection {} (read so far: {})",
                self.addr,
                ran_out(&err),
                crate::show_bytes(&bytes)
            );
        }
        bytes
    }

    /// Checks that the server closed the connection with nothing more to say.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        let rest = self.read_to_end();
        assert!(
            rest.is_empty(),
            "expected {} to close the connection, but it sent {}",
            self.addr,
            crate::show_bytes(&rest)
        );
    }

    /// Whether a read would wait: nothing buffered and nothing arrives within `limit`.
    #[track_caller]
    pub fn is_silent_for(&mut self, limit: Duration) -> bool {
        if !self.reader.buffer().is_empty() {
            return false;
        }
        self.set_read_timeout(limit);
        let mut byte = [0u8; 1];
        let silent = match self.reader.get_mut().peek(&mut byte) {
            Err(err) => matches!(
                err.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            ),
            Ok(_) => false,
        };
        self.set_read_timeout(timeout());
        silent
    }

    /// Half-closes the connection: the server reads end of file, this side
    /// can still read.
    #[track_caller]
    pub fn shutdown_write(&self) {
        self.stream()
            .shutdown(Shutdown::Write)
            .expect("shutdown(Write)");
    }

    /// Closes the connection abruptly: with `SO_LINGER` set to zero, close
    /// sends a reset (RST) instead of the orderly FIN.
    #[track_caller]
    pub fn reset(self) {
        SockRef::from(self.stream())
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
    }
}

/// Accepts one connection on `listener` (a test's stand-in server), failing
/// the test if none comes within [`timeout()`]: a program under test that
/// fails before it connects must not leave the test waiting for ever. The
/// connection is blocking, with the kit's read and write timeouts.
#[track_caller]
pub fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    listener
        .set_nonblocking(true)
        .expect("make the listener non-blocking");
    let mut accepted = None;
    let connected = crate::wait_until(timeout(), || match listener.accept() {
        Ok(connection) => {
            accepted = Some(connection);
            true
        }
        Err(_) => false,
    });
    listener
        .set_nonblocking(false)
        .expect("make the listener blocking again");
    let Some((stream, peer)) = accepted.filter(|_| connected) else {
        panic!(
            "nobody connected to {:?} within {:?}",
            listener.local_addr(),
            timeout()
        );
    };
    stream
        .set_nonblocking(false)
        .expect("a blocking connection");
    set_timeouts(&stream);
    (stream, peer)
}

/// What a read that failed says: `within 10s ...` when the kit's timeout ran
/// out (the error is then only EAGAIN), the error otherwise.
fn ran_out(err: &io::Error) -> String {
    match err.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => crate::within_timeout(),
        _ => format!("({err})"),
    }
}

/// Gives a test's connection the kit's read and write timeouts.
#[track_caller]
fn set_timeouts(stream: &TcpStream) {
    stream
        .set_read_timeout(Some(timeout()))
        .expect("set_read_timeout");
    stream
        .set_write_timeout(Some(timeout()))
        .expect("set_write_timeout");
}

/// How many segments carrying data this end of a TCP connection has received
/// (`tcpi_data_segs_in` of `TCP_INFO`, see tcp(7); Linux 4.6 and later): to
/// show that a server sends a message in one write, which leaves as one
/// segment, rather than a line in several. (A server's write calls cannot be
/// counted from `/proc/<pid>/io`: std's `TcpStream` writes with send(2),
/// which it does not count.)
#[track_caller]
pub fn data_segments_received(stream: &TcpStream) -> u32 {
    use nix::libc;
    use std::os::fd::AsRawFd;
    // SAFETY: all zeros is a valid tcp_info: it holds only integers.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info` and sets
    // `len` to how many it wrote.
    let result = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    if result != 0 {
        panic!("TCP_INFO: {}", io::Error::last_os_error());
    }
    info.tcpi_data_segs_in
}

/// Connects to `addr` as soon as something listens there, trying again while
/// the connection is refused; fails the test after [`timeout()`]. For servers
/// whose `listening on` line the test cannot read (its stdout is a closed
/// pipe, or it is the original's PHP, which prints no address).
#[track_caller]
pub fn connect_when_listening(addr: SocketAddr) -> Client {
    let deadline = std::time::Instant::now() + timeout();
    loop {
        match Client::try_connect(addr) {
            Ok(client) => return client,
            Err(err)
                if err.kind() == ErrorKind::ConnectionRefused
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(err) => panic!("could not connect to {addr}: {err}"),
        }
    }
}

/// A loopback port on which, a moment ago, nothing was listening: for tests
/// of "connection refused", and for servers whose port the test must choose.
///
/// It is taken below the range from which the kernel hands out ports to
/// sockets bound to port 0 and to clients that connect
/// (`/proc/sys/net/ipv4/ip_local_port_range`): there, a client of another
/// test, connecting between this call and the server's bind, could be given
/// the very port. The tests of one process get the ports in turn, from an
/// offset that depends on the process id, so no two get the same one.
#[track_caller]
pub fn unused_port() -> u16 {
    free_port(|port| {
        // Bound, with SO_REUSEADDR, but never listening. A listening probe
        // could be copied into a child that another test forks at that
        // moment, and live on there until the child's exec: the server
        // would then fail to bind, and a client would connect to the copy
        // and be reset when exec closes it. A copy of this socket stops
        // nothing: the server's bind (std sets SO_REUSEADDR too) shares the
        // port with it, and no connection is ever queued on it.
        use socket2::{Domain, Socket, Type};
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        Socket::new(Domain::IPV4, Type::STREAM, None)
            .and_then(|probe| {
                probe.set_reuse_address(true)?;
                probe.bind(&address.into())
            })
            .is_ok()
    })
}

/// A port below the kernel's range of ephemeral ports for which `is_free`
/// holds (see [`unused_port`]).
#[track_caller]
pub(crate) fn free_port(is_free: impl Fn(u16) -> bool) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|range| range.split_whitespace().next()?.parse().ok())
            .unwrap_or(32768u32);
    // The ports just below the ephemeral ones, above the well-known and
    // registered ones a machine's own services are likely to use.
    let high = ephemeral_low.clamp(2048, 65536);
    let low = high.saturating_sub(12_000).max(1024);
    let span = high - low;
    let offset = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let turn = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (low + (offset + turn) % span) as u16;
        if is_free(port) {
            return port;
        }
    }
    panic!("no free loopback port from {low} to {high}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn unused_ports_are_free_distinct_and_outside_the_ephemeral_range() {
        let range =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
                .expect("the ephemeral range");
        let low: u16 = range
            .split_whitespace()
            .next()
            .and_then(|low| low.parse().ok())
            .expect("a number");
        let ports: Vec<u16> = (0..20).map(|_| unused_port()).collect();
        for &port in &ports {
            assert!(port < low, "{port} is an ephemeral port");
            TcpListener::bind(("127.0.0.1", port)).expect("free");
        }
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }

    #[test]
    fn one_write_arrives_as_one_segment_and_three_as_three() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut sender =
            TcpStream::connect(listener.local_addr().expect("addr"))
                .expect("connect");
        sender.set_nodelay(true).expect("TCP_NODELAY");
        let (mut receiver, _) = listener.accept().expect("accept");
        receiver.set_read_timeout(Some(timeout())).expect("timeout");
        let mut buffer = [0u8; 64];
        sender.write_all(b"one line\n").expect("write");
        receiver.read_exact(&mut buffer[..9]).expect("read");
        assert_eq!(data_segments_received(&receiver), 1);
        // With Nagle's algorithm off, each write leaves at once: three
        // segments, whatever arrives by the time we read.
        for piece in [&b"a"[..], b"b", b"c"] {
            sender.write_all(piece).expect("write");
            receiver.read_exact(&mut buffer[..1]).expect("read");
        }
        assert_eq!(data_segments_received(&receiver), 4);
    }
}
