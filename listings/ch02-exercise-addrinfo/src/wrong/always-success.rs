//! Exercise 2-1, a wrong answer: it probes and prints every address, but
//! exits with status 0 whatever it found, so a script cannot tell, as it can
//! with `nc -z`, whether anything answered. The tests must reject it.

use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

pub fn main() -> ExitCode {
    // Two arguments: a host name or address, and a port number.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port) = match args.as_slice() {
        [host, port] => match port.parse::<u16>() {
            Ok(port) => (host.as_str(), port),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };

    // getaddrinfo(): every address of the name, in the order the resolver
    // prefers. A numeric address comes back as it is, without any lookup.
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(err) => {
            eprintln!("could not resolve {host}: {err}");
            return ExitCode::FAILURE;
        }
    };

    // Try every address, as TcpStream::connect() does with a name, but do
    // not stop at the first that answers: we want to see them all.
    let mut any_open = false;
    let patience = Duration::from_secs(2);
    let mut stdout = io::stdout().lock();
    for addr in addrs {
        let result = match TcpStream::connect_timeout(&addr, patience) {
            // Connected: the handshake is done. Dropping the stream hangs up.
            Ok(_) => {
                any_open = true;
                "open".to_string()
            }
            // The host answered the SYN with a reset: nobody listens there.
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
                "refused".to_string()
            }
            // No answer in time, no route, no IPv6 on this machine...
            Err(err) => err.to_string(),
        };
        // A closed stdout (`| head -1`) is an error, not a panic.
        if let Err(err) = writeln!(stdout, "{addr} {result}") {
            eprintln!("could not print the results: {err}");
            return ExitCode::FAILURE;
        }
    }
    // Wrong: success even when no address was open.
    let _ = any_open;
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: ch02-exercise-addrinfo HOST PORT");
    ExitCode::from(2)
}
