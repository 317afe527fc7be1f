//! Taking a copy of another process's socket, with pidfd_getfd(2): the
//! very socket the server holds, reached through a descriptor of the
//! test's own. A datagram the test sends through a copy of a UDP server's
//! socket leaves from the server's address, as one whose sender an attacker
//! forged would; a connection the test accepts on a copy of a TCP server's
//! listener is taken from the server, as another process sharing the
//! listener would take it.
//!
//! Linux 5.6 and later, and only where the test may trace the server (a
//! security policy may forbid it): each function says why not, and the
//! test then skips, saying so.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::libc;
use socket2::{SockRef, Type};

use crate::procfs;

/// A copy of descriptor `fd` of process `pid`, as a descriptor of this
/// process (close-on-exec), or why the kernel refused it.
pub fn copy_descriptor(pid: u32, fd: u32) -> Result<OwnedFd, String> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new
    // descriptor, or -1; it reads and writes none of our memory.
    let pidfd =
        unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if pidfd < 0 {
        let err = io::Error::last_os_error();
        return Err(format!("pidfd_open({pid}) failed: {err}"));
    }
    // SAFETY: pidfd_open just returned this descriptor, and nothing else in
    // this process has it: the OwnedFd is its only owner, and closes it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: as pidfd_open: descriptors and flags in, a new descriptor out.
    let copy = unsafe {
        libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0)
    };
    if copy < 0 {
        let err = io::Error::last_os_error();
        return Err(format!("pidfd_getfd({pid}, {fd}) failed: {err}"));
    }
    // SAFETY: pidfd_getfd just returned this new descriptor, ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(copy as RawFd) })
}

/// The descriptors of `pid` that are sockets, copied into this process.
#[track_caller]
fn sockets_of(pid: u32) -> Result<Vec<OwnedFd>, String> {
    let sockets: Vec<u32> = procfs::descriptors(pid)
        .into_iter()
        .filter(|(_, target)| target.to_string_lossy().starts_with("socket:"))
        .map(|(fd, _)| fd)
        .collect();
    if sockets.is_empty() {
        return Err(format!("process {pid} has no socket"));
    }
    sockets
        .into_iter()
        .map(|fd| copy_descriptor(pid, fd))
        .collect()
}

/// A copy of the UDP socket of process `pid` that is bound to `addr`.
#[track_caller]
pub fn copy_udp_socket(
    pid: u32,
    addr: SocketAddr,
) -> Result<UdpSocket, String> {
    sockets_of(pid)?
        .into_iter()
        .filter(|socket| {
            SockRef::from(socket)
                .r#type()
                .is_ok_and(|kind| kind == Type::DGRAM)
        })
        .map(UdpSocket::from)
        .find(|socket| socket.local_addr().ok() == Some(addr))
        .ok_or_else(|| format!("process {pid} has no UDP socket on {addr}"))
}

/// A copy of the socket of process `pid` that listens on `addr`.
#[track_caller]
pub fn copy_listener(
    pid: u32,
    addr: SocketAddr,
) -> Result<TcpListener, String> {
    sockets_of(pid)?
        .into_iter()
        .map(TcpStream::from)
        // Listening, on the server's address: bound there, and no peer.
        .find(|socket| {
            socket.local_addr().ok() == Some(addr)
                && socket.peer_addr().is_err()
        })
        .map(|socket| TcpListener::from(OwnedFd::from(socket)))
        .ok_or_else(|| format!("process {pid} does not listen on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeout;

    #[test]
    fn a_copy_of_our_own_udp_socket_sends_from_its_address() {
        let original = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver
            .set_read_timeout(Some(timeout()))
            .expect("read timeout");
        let addr = original.local_addr().expect("local_addr");
        let copy = match copy_udp_socket(std::process::id(), addr) {
            Ok(copy) => copy,
            Err(why) => return crate::skip(&why),
        };
        let to = receiver.local_addr().expect("local_addr");
        copy.send_to(b"hello", to).expect("send_to");
        let mut buffer = [0u8; 16];
        let (len, from) = receiver.recv_from(&mut buffer).expect("recv_from");
        assert_eq!(&buffer[..len], b"hello");
        assert_eq!(from, addr);
    }

    #[test]
    fn a_copy_of_a_listener_accepts_its_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let copy = match copy_listener(std::process::id(), addr) {
            Ok(copy) => copy,
            Err(why) => return crate::skip(&why),
        };
        let client = TcpStream::connect(addr).expect("connect");
        let (accepted, peer) = copy.accept().expect("accept on the copy");
        assert_eq!(Some(peer), client.local_addr().ok());
        drop((accepted, listener));
    }
}
