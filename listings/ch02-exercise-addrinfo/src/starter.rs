//! Exercise 2-1 (your work): resolve HOST and PORT like getaddrinfo() does,
//! then try to connect to every address and say what happened. The TODO
//! comment marks the spot.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

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

    // ANCHOR: task
    // TODO: connect to each address (give up after 2 seconds) and print
    // `<addr> open`, `<addr> refused`, or `<addr> <error>`. Exit with
    // status 0 if some address was open, 1 if none was.
    let mut stdout = io::stdout().lock();
    for addr in addrs {
        // A closed stdout (`| head -1`) is an error, not a panic.
        if let Err(err) = writeln!(stdout, "{addr}") {
            eprintln!("could not print the results: {err}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
    // ANCHOR_END: task
}

fn usage() -> ExitCode {
    eprintln!("usage: ch02-exercise-addrinfo HOST PORT");
    ExitCode::from(2)
}
