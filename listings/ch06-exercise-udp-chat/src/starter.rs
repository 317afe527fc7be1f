//! Exercise 6-2 (your work): Listing 6-1, to be turned into a chat room.
//! Whoever sends a datagram becomes a member; every message is still
//! answered with `OK <message>`, and also sent to every other member as
//! `<sender>: <message>`; `/leave` ends membership. The TODO comments mark
//! the spots.

use std::net::UdpSocket;
use std::process::ExitCode;

/// No datagram is larger: UDP's length field has 16 bits.
const MAX_UDP_PAYLOAD: usize = 65_536;
/// The most a datagram can carry over IPv4: an IP packet is at most 65,535
/// bytes, less 20 of IP header and 8 of UDP header.
const MAX_DATAGRAM: usize = 65_507;

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 9999.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9999".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch06-exercise-udp-chat [ADDR]");
        return ExitCode::from(2);
    }

    // socket(AF_INET, SOCK_DGRAM) and bind() in one call. There is no
    // listen(): a UDP socket has no connections to queue.
    let socket = match UdpSocket::bind(&addr) {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match socket.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }

    // Room for the largest datagram: recv_from() discards whatever part of a
    // datagram does not fit, and nothing tells the sender.
    // ANCHOR: task
    let mut buffer = vec![0u8; MAX_UDP_PAYLOAD];
    // TODO: remember the members: every address a datagram came from.
    loop {
        // One call, one whole datagram, and the address of whoever sent it.
        let (received, peer) = match socket.recv_from(&mut buffer) {
            Ok(datagram) => datagram,
            Err(err) => {
                eprintln!("could not receive: {err}");
                continue;
            }
        };
        let message = &buffer[..received];
        let shown = String::from_utf8_lossy(message);
        println!("{peer} -- {}", shown.trim_end_matches(['\r', '\n']));

        // The whole message comes back, unless `OK ` makes it too large for
        // one datagram: then only as much as fits.
        let mut reply = b"OK ".to_vec();
        reply.extend_from_slice(message);
        reply.truncate(MAX_DATAGRAM);
        if let Err(err) = socket.send_to(&reply, peer) {
            eprintln!("could not send to {peer}: {err}");
        }
        // TODO: forget the sender if its message is `/leave`. Otherwise,
        // send `<sender>: <message>` to every other member.
    }
    // ANCHOR_END: task
}
