//! Exercise 3-2, a wrong answer: it asks for the head only, but reads the
//! whole response, until the server closes the connection, before it
//! prints the status line. A server that keeps the connection open keeps it
//! waiting until its timeout. The tests must reject it.

use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

/// The longest status line we accept, `\r\n` included.
const MAX_STATUS_LINE: u64 = 8192;

const USAGE: &str =
    "usage: ch03-exercise-head-request HOST [PORT] [TIMEOUT_SECONDS]";

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((host, port, timeout)) = parse_args(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let seconds = timeout.as_secs_f64();

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

    // Every later read and write may also wait at most `timeout`.
    if let Err(err) = stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
    {
        eprintln!("could not set timeouts on {server}: {err}");
        return ExitCode::FAILURE;
    }
    // HEAD asks for the status line and headers that GET would bring, and no
    // body.
    let request = format!(
        "HEAD / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        host_header(&host, port)
    );
    if let Err(err) = stream.write_all(request.as_bytes()) {
        eprintln!("could not send to {server}: {err}");
        return ExitCode::FAILURE;
    }

    // Wrong: read everything, until the server closes, then look for the
    // status line in it.
    let mut response = Vec::new();
    let read = BufReader::new(&stream)
        .take(MAX_STATUS_LINE)
        .read_to_end(&mut response);
    match read {
        Ok(_) => {}
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            ) =>
        {
            eprintln!(
                "could not read from {server}: nothing came within {seconds} s"
            );
            return ExitCode::FAILURE;
        }
        Err(err) => {
            eprintln!("could not read from {server}: {err}");
            return ExitCode::FAILURE;
        }
    }
    let Some(end) = response.iter().position(|&byte| byte == b'\n') else {
        eprintln!(
            "{server} closed the connection before the end of the status line"
        );
        return ExitCode::FAILURE;
    };
    let status = &response[..=end];
    // Print it with a plain newline instead of HTTP's \r\n.
    let status = String::from_utf8_lossy(status);
    let mut stdout = io::stdout().lock();
    if let Err(err) =
        writeln!(stdout, "{}", status.trim_end_matches(['\r', '\n']))
    {
        eprintln!("could not print the status line: {err}");
        return ExitCode::FAILURE;
    }
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
