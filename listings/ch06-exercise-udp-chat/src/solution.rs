//! Exercise 6-2 (the book's answer): Listing 6-1 as a chat room. Whoever
//! sends a datagram becomes a member; every message is still answered with
//! `OK <message>`, and also sent to every other member as
//! `<sender>: <message>`; `/leave` ends membership.

use std::net::{SocketAddr, UdpSocket};
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
    let mut buffer = vec![0u8; MAX_UDP_PAYLOAD];
    // ANCHOR: solution_members
    // There are no connections to tell us who is there: a member is an
    // address a datagram came from, until it says `/leave`.
    let mut members: Vec<SocketAddr> = Vec::new();
    // ANCHOR_END: solution_members
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

        // ANCHOR: solution
        if message == b"/leave" {
            members.retain(|member| *member != peer);
            continue;
        }
        if !members.contains(&peer) {
            members.push(peer);
        }
        let mut forward = format!("{peer}: ").into_bytes();
        forward.extend_from_slice(message);
        forward.truncate(MAX_DATAGRAM);
        for member in members.iter().filter(|member| **member != peer) {
            // A member that went away without `/leave` is not noticed: an
            // unconnected socket hears no "port unreachable", and the send
            // succeeds all the same.
            if let Err(err) = socket.send_to(&forward, member) {
                eprintln!("could not send to {member}: {err}");
            }
        }
        // ANCHOR_END: solution
    }
}
