// [starter]
// //! Exercise 2-1 (your work): resolve HOST and PORT like getaddrinfo() does,
// //! then try to connect to every address and say what happened. The TODO
// //! comment marks the spot.
// [solution]
//! Exercise 2-1 (the book's answer): resolve HOST and PORT like
//! getaddrinfo() does, then try to connect to every address and say what
//! happened.
// [end]

// [starter]
// use std::io::{self, Write};
// use std::net::{SocketAddr, ToSocketAddrs};
// [solution]
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
// [end]
use std::process::ExitCode;
// [starter]
// [solution]
use std::time::Duration;
// [end]

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

    // [starter]
    // // ANCHOR: task
    // // TODO: connect to each address (give up after 2 seconds) and print
    // // `<addr> open`, `<addr> refused`, or `<addr> <error>`. Exit with
    // // status 0 if some address was open, 1 if none was.
    // [solution]
    // ANCHOR: solution
    // Try every address, as TcpStream::connect() does with a name, but do
    // not stop at the first that answers: we want to see them all.
    let mut any_open = false;
    let patience = Duration::from_secs(2);
    // [end]
    let mut stdout = io::stdout().lock();
    for addr in addrs {
        // [starter]
        // [solution]
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
        // [end]
        // A closed stdout (`| head -1`) is an error, not a panic.
        // [starter]
        // if let Err(err) = writeln!(stdout, "{addr}") {
        // [solution]
        if let Err(err) = writeln!(stdout, "{addr} {result}") {
            // [end]
            eprintln!("could not print the results: {err}");
            return ExitCode::FAILURE;
        }
    }
    // [starter]
    // ExitCode::SUCCESS
    // // ANCHOR_END: task
    // [solution]
    if any_open {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
    // ANCHOR_END: solution
    // [end]
}

fn usage() -> ExitCode {
    eprintln!("usage: ch02-exercise-addrinfo HOST PORT");
    ExitCode::from(2)
}
