//! How many bytes wait in a TCP connection's queues, as `/proc/net/tcp`
//! tells (see proc(5)): the bytes a program has written that the peer has
//! not yet acknowledged, and the bytes that arrived that the program has not
//! yet read.
//!
//! A test can wait on these facts instead of sleeping: "the server has read
//! everything we sent" is `receive == 0` on the server's side once our own
//! `send` is 0.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The queues of one TCP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queues {
    /// Written, not yet acknowledged by the peer (`tx_queue`).
    pub send: usize,
    /// Received, not yet read by the program (`rx_queue`).
    pub receive: usize,
}

/// The queues of the socket whose own address is `local` and whose peer is
/// `remote`, or `None` if there is no such connection.
#[track_caller]
pub fn queues(local: SocketAddr, remote: SocketAddr) -> Option<Queues> {
    let table = if local.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if parse_addr(fields.get(1)?)? != local
            || parse_addr(fields.get(2)?)? != remote
        {
            return None;
        }
        let (send, receive) = fields.get(4)?.split_once(':')?;
        Some(Queues {
            send: usize::from_str_radix(send, 16).ok()?,
            receive: usize::from_str_radix(receive, 16).ok()?,
        })
    })
}

/// `0100007F:1388` is 127.0.0.1:5000: the address is printed as the 32-bit
/// words the kernel holds it in, in this machine's byte order, the port in
/// plain hexadecimal.
#[track_caller]
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<[u8; 4]> = (0..addr.len() / 8)
        .map(|i| {
            u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16)
                .map(u32::to_ne_bytes)
        })
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.as_slice() {
        [a] => IpAddr::V4(Ipv4Addr::from(*a)),
        [a, b, c, d] => {
            let mut octets = [0u8; 16];
            for (chunk, word) in octets.chunks_mut(4).zip([a, b, c, d]) {
                chunk.copy_from_slice(word);
            }
            let v6 = Ipv6Addr::from(octets);
            // An IPv4 client of an IPv6 socket shows as ::ffff:a.b.c.d.
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn addresses_are_read_in_the_kernels_byte_order() {
        assert_eq!(
            parse_addr("0100007F:1388"),
            Some(SocketAddr::from(([127, 0, 0, 1], 5000)))
        );
    }

    #[test]
    fn unread_bytes_show_in_the_receive_queue() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client =
            TcpStream::connect(listener.local_addr().expect("addr"))
                .expect("connect");
        let (server, _) = listener.accept().expect("accept");
        client.write_all(b"12345").expect("write");
        let (server_end, client_end) = (
            server.local_addr().expect("addr"),
            client.local_addr().expect("addr"),
        );
        assert!(crate::wait_until(crate::timeout(), || {
            queues(server_end, client_end).is_some_and(|q| q.receive == 5)
        }));
    }
}
