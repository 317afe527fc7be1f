//! Exercise 3-2 (your work): Listing 3-1, to be changed so that it sends a
//! HEAD request and prints only the status line of the response. The TODO
//! comment marks the spot.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: ch03-exercise-head-request HOST [PORT] [TIMEOUT_SECONDS]";

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((host, port, timeout)) = parse_args(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let seconds = timeout.as_secs_f64();

    // ANCHOR: resolve
    // A name becomes addresses through the system's resolver (getaddrinfo):
    // /etc/hosts first, then DNS. A numeric address is returned as it is.
    // One name may have several addresses, IPv6 and IPv4 among them.
    let addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(err) => {
            eprintln!("could not resolve {host}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let listed: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    eprintln!("{host} resolves to {}", listed.join(", "));
    // ANCHOR_END: resolve

    // ANCHOR: connect
    // Try each address in turn, as TcpStream::connect() would, but with a
    // time limit: a host that never answers would otherwise keep us waiting
    // for minutes while the kernel resends its SYN.
    let mut connected = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => {
                connected = Some((stream, *addr));
                break;
            }
            Err(err) if err.kind() == ErrorKind::TimedOut => {
                eprintln!(
                    "could not connect to {addr}: no answer within {seconds} s"
                );
            }
            Err(err) => eprintln!("could not connect to {addr}: {err}"),
        }
    }
    let Some((mut stream, server)) = connected else {
        return ExitCode::FAILURE; // every address failed, each said why
    };
    match stream.local_addr() {
        Ok(local) => eprintln!("connected to {server} from {local}"),
        Err(_) => eprintln!("connected to {server}"),
    }
    // ANCHOR_END: connect

    // ANCHOR: request
    // Every later read and write may also wait at most `timeout`.
    if let Err(err) = stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
    {
        eprintln!("could not set timeouts on {server}: {err}");
        return ExitCode::FAILURE;
    }
    // ANCHOR: task
    // TODO: ask for the head only (HEAD), and print only the status line.
    // HTTP/1.1 requires a Host header. `Connection: close` asks the server
    // to close the connection after its response, which is how we will know
    // the response is complete.
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        host_header(&host, port)
    );
    if let Err(err) = stream.write_all(request.as_bytes()) {
        eprintln!("could not send to {server}: {err}");
        return ExitCode::FAILURE;
    }
    // ANCHOR_END: request

    // ANCHOR: response
    // Read until read() returns 0: the server has closed the connection.
    // Each chunk is printed as it comes, so the response may be any size.
    let mut stdout = io::stdout().lock();
    let mut chunk = [0u8; 4096];
    loop {
        let received = match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(received) => received,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) =>
            {
                eprintln!(
                    "could not read from {server}: nothing came within \
                     {seconds} s"
                );
                return ExitCode::FAILURE;
            }
            Err(err) => {
                eprintln!("could not read from {server}: {err}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(err) = stdout.write_all(&chunk[..received]) {
            eprintln!("could not print the response: {err}");
            return ExitCode::FAILURE;
        }
    }
    // ANCHOR_END: task
    if let Err(err) = stdout.flush() {
        eprintln!("could not print the response: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// HOST, then an optional PORT (default 80) and TIMEOUT_SECONDS (default 10).
fn parse_args(args: &[String]) -> Option<(String, u16, Duration)> {
    let (host, rest) = args.split_first()?;
    if host.starts_with('-') || rest.len() > 2 {
        return None;
    }
    let port = match rest.first() {
        Some(port) => port.parse().ok()?,
        None => 80,
    };
    let timeout = match rest.get(1) {
        Some(seconds) => {
            Duration::try_from_secs_f64(seconds.parse().ok()?).ok()?
        }
        None => Duration::from_secs(10),
    };
    if timeout.is_zero() {
        return None;
    }
    Some((host.clone(), port, timeout))
}

/// The Host header's value: the name as given, with the port unless it is
/// HTTP's 80, and an IPv6 address in brackets.
fn host_header(host: &str, port: u16) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port == 80 {
        host
    } else {
        format!("{host}:{port}")
    }
}
