//! Listing 5-3: a load test for the select server (a benchmark, not a test).
//! CLIENTS clients connect and stay connected; then every one of them sends
//! LINES lines, one at a time, each as soon as the reply to the last has
//! come. It prints how many replies per second the server gave, and how long
//! replies took: the median, the 99th percentile and the slowest.
//!
//! Start a server that admits that many clients, then run it:
//!     cargo run --release -p ch05-select-server -- 127.0.0.1:5000 1000
//!     cargo run --release -p ch05-select-load -- 127.0.0.1:5000 1000 100

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Prints a line, as println! does, except that a closed stdout (`cargo run
/// ... | head -1`) ends the program with one line on stderr and status 1,
/// where println! would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

fn say(line: fmt::Arguments) {
    if let Err(err) = writeln!(io::stdout(), "{line}") {
        eprintln!("could not print: {err}");
        std::process::exit(1);
    }
}

/// How long we wait for any reply before we call the server stuck.
const PATIENCE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let usage = || {
        eprintln!("usage: ch05-select-load [ADDR [CLIENTS [LINES]]]");
        ExitCode::from(2)
    };
    let mut count =
        |default: usize| match args.next().map(|text| text.parse::<usize>()) {
            None => Some(default),
            Some(Ok(count)) if count > 0 => Some(count),
            Some(_) => None,
        };
    let (Some(clients), Some(lines)) = (count(1000), count(100)) else {
        return usage();
    };
    if addr.starts_with('-') || args.next().is_some() {
        return usage();
    }
    // Every reply's time is kept: their number must be one we can count.
    if clients.checked_mul(lines).is_none() {
        return usage();
    }

    match load(&addr, clients, lines) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// One simulated client.
struct LoadClient {
    stream: TcpStream,
    number: usize,
    /// Lines sent, and replies received, so far.
    sent: usize,
    answered: usize,
    sent_at: Instant,
    /// What arrived of the reply so far.
    received: Vec<u8>,
}

// ANCHOR: load
fn load(addr: &str, clients: usize, lines: usize) -> Result<(), String> {
    // Each client is a descriptor, and so is every connection in the
    // server: 1,000 of them come close to the usual limit of 1,024.
    allow_descriptors(clients as u64 + 16)?;

    let started = Instant::now();
    let mut all = Vec::with_capacity(clients);
    for number in 0..clients {
        all.push(connect(addr, number)?);
    }
    let connecting = started.elapsed();
    say!(
        "{clients} clients connected in {:.2} s",
        connecting.as_secs_f64()
    );

    let started = Instant::now();
    let mut reply_times = Vec::new();
    for client in &mut all {
        send_next(client, addr)?;
    }
    while reply_times.len() < clients * lines {
        // poll(), not select(): a thousand clients plus our own descriptors
        // could pass FD_SETSIZE, and poll() has no such limit.
        let waiting: Vec<usize> = (0..all.len())
            .filter(|&index| all[index].answered < lines)
            .collect();
        let mut poll_fds: Vec<PollFd> = waiting
            .iter()
            .map(|&index| {
                PollFd::new(all[index].stream.as_fd(), PollFlags::POLLIN)
            })
            .collect();
        let patience =
            PollTimeout::try_from(PATIENCE).unwrap_or(PollTimeout::MAX);
        match poll(&mut poll_fds, patience) {
            Ok(0) => {
                return Err(format!("no reply from {addr} for {PATIENCE:?}"));
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(format!("poll failed: {err}")),
        }
        let ready: Vec<usize> = waiting
            .iter()
            .zip(&poll_fds)
            .filter(|(_, poll_fd)| poll_fd.any().unwrap_or(true))
            .map(|(&index, _)| index)
            .collect();
        drop(poll_fds);
        for index in ready {
            receive(&mut all[index], addr, lines, &mut reply_times)?;
        }
    }
    let running = started.elapsed();
    report(&reply_times, running);
    Ok(())
}
// ANCHOR_END: load

/// Raises this process's soft limit on descriptors to `needed` if it is
/// lower. Only root may raise the hard limit, so that one must suffice.
fn allow_descriptors(needed: u64) -> Result<(), String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|err| format!("could not read the descriptor limit: {err}"))?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(format!(
            "{needed} descriptors are needed, but the hard limit is {hard} \
             (see `ulimit -Hn`)"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, needed, hard).map_err(|err| {
        format!("could not raise the descriptor limit to {needed}: {err}")
    })
}

/// Connects client `number` and reads the server's two-line welcome.
fn connect(addr: &str, number: usize) -> Result<LoadClient, String> {
    let mut stream = TcpStream::connect(addr).map_err(|err| {
        format!("client {number} could not connect to {addr}: {err}")
    })?;
    stream
        .set_read_timeout(Some(PATIENCE))
        .map_err(|err| format!("could not set a read timeout: {err}"))?;
    // Nothing follows the welcome until we send, so reading up to its
    // second newline takes nothing that belongs to a reply.
    let mut welcome = Vec::new();
    let mut chunk = [0u8; 256];
    let deadline = Instant::now() + PATIENCE;
    while welcome.iter().filter(|&&byte| byte == b'\n').count() < 2 {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(received) => welcome.extend_from_slice(&chunk[..received]),
            // Stopped and continued (Ctrl-Z, fg): a read with a timeout
            // fails with EINTR then, even with no signal handler. Read on,
            // for the time that is left.
            Err(err) if err.kind() == ErrorKind::Interrupted => {
                let left = deadline.saturating_duration_since(Instant::now());
                let left = left.max(Duration::from_millis(1));
                stream.set_read_timeout(Some(left)).map_err(|err| {
                    format!("could not set a read timeout: {err}")
                })?;
            }
            Err(err) => {
                return Err(format!(
                    "client {number} got no welcome from {addr}: {err}"
                ));
            }
        }
    }
    if !welcome.starts_with(b"Welcome") {
        return Err(format!(
            "{addr} refused client {number} (start the server with a \
             MAX_CLIENTS of at least the number of clients): {}",
            String::from_utf8_lossy(&welcome).trim_end()
        ));
    }
    Ok(LoadClient {
        stream,
        number,
        sent: 0,
        answered: 0,
        sent_at: Instant::now(),
        received: Vec::new(),
    })
}

/// Sends the client's next line and starts its clock.
fn send_next(client: &mut LoadClient, addr: &str) -> Result<(), String> {
    let line = format!("client {} line {}\n", client.number, client.sent);
    // The last line was answered, so the send buffer is empty and takes this
    // short line at once: the write does not block.
    client.stream.write_all(line.as_bytes()).map_err(|err| {
        format!("client {} could not write to {addr}: {err}", client.number)
    })?;
    client.sent += 1;
    client.sent_at = Instant::now();
    Ok(())
}

/// Reads what poll() said has arrived, checks the reply, and sends the next
/// line if there is one.
fn receive(
    client: &mut LoadClient,
    addr: &str,
    lines: usize,
    reply_times: &mut Vec<Duration>,
) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let received = match client.stream.read(&mut chunk) {
        // A signal came first: poll() will say so again.
        Err(err) if err.kind() == ErrorKind::Interrupted => return Ok(()),
        Ok(0) => {
            return Err(format!(
                "{addr} closed the connection of client {}",
                client.number
            ));
        }
        Ok(received) => received,
        Err(err) => {
            return Err(format!(
                "client {} could not read from {addr}: {err}",
                client.number
            ));
        }
    };
    client.received.extend_from_slice(&chunk[..received]);
    let Some(end) = client.received.iter().position(|&byte| byte == b'\n')
    else {
        return Ok(()); // the rest of the reply is still on its way
    };
    reply_times.push(client.sent_at.elapsed());
    let reply: Vec<u8> = client.received.drain(..=end).collect();
    let expected =
        format!("OK ... client {} line {}\n", client.number, client.sent - 1);
    if reply != expected.as_bytes() {
        return Err(format!(
            "client {} expected {expected:?} but got {:?}",
            client.number,
            String::from_utf8_lossy(&reply)
        ));
    }
    client.answered += 1;
    if client.answered < lines {
        send_next(client, addr)?;
    }
    Ok(())
}

/// Prints the throughput and the spread of reply times.
fn report(reply_times: &[Duration], running: Duration) {
    let mut sorted = reply_times.to_vec();
    sorted.sort();
    let at = |fraction: f64| {
        let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
        sorted[index].as_secs_f64() * 1000.0
    };
    say!(
        "{} replies in {:.2} s: {:.0} replies per second",
        sorted.len(),
        running.as_secs_f64(),
        sorted.len() as f64 / running.as_secs_f64()
    );
    say!(
        "reply time: median {:.2} ms, 99th percentile {:.2} ms, slowest {:.2} \
         ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
