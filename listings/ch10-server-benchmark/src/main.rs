//! Listing 10-5: a benchmark, in the spirit of Stevens' comparison of server
//! designs. For each server it measures how many short sessions per second
//! the server completes with 1, 4 and 16 clients connecting at once, and
//! prints a Markdown table with the machine it ran on.
//!
//!     cargo run --release -p ch10-server-benchmark
//!
//! compares the book's servers of chapters 3, 8 and 10. Every server runs on
//! 127.0.0.1, on a port the kernel picks; nothing leaves this machine.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const USAGE: &str = "\
usage: ch10-server-benchmark [--seconds S] [--clients N,N,...] [--max-procs N]
                             [SERVER=PROTOCOL ...]
  SERVER    a listing's package name (built with cargo), or a path to a
            server binary
  PROTOCOL  line: send a line, read the reply until the server closes
              (ch03-tcp-server-loop)
            greet-echo: read the greeting line, send a line, read it back,
              close (ch08, ch10)
  Without servers: ch03-tcp-server-loop=line
                   ch08-forking-echo-server=greet-echo
                   ch10-worker-pool=greet-echo";

/// The servers compared when none are named.
const DEFAULT_SERVERS: [&str; 3] = [
    "ch03-tcp-server-loop=line",
    "ch08-forking-echo-server=greet-echo",
    "ch10-worker-pool=greet-echo",
];

/// Any single read, write or connect longer than this is a failed session.
const SESSION_TIMEOUT: Duration = Duration::from_secs(5);

// ANCHOR: protocol
/// What one short session looks like to the client.
#[derive(Clone, Copy)]
enum Protocol {
    /// Send `ping`, read until the server hangs up; the reply holds `ping`.
    Line,
    /// Read the greeting line, send `ping`, read `ping` back, hang up.
    GreetEcho,
}

/// Runs one session on a new connection. Ok means it went as the protocol says.
fn session(addr: SocketAddr, protocol: Protocol) -> io::Result<()> {
    let stream = TcpStream::connect_timeout(&addr, SESSION_TIMEOUT)?;
    stream.set_read_timeout(Some(SESSION_TIMEOUT))?;
    stream.set_write_timeout(Some(SESSION_TIMEOUT))?;
    let mut writer = &stream;
    let mut reader = BufReader::new(&stream);
    match protocol {
        Protocol::Line => {
            writer.write_all(b"ping\n")?;
            let mut reply = Vec::new();
            reader.read_to_end(&mut reply)?;
            expect(
                reply.windows(4).any(|word| word == b"ping"),
                "no ping in the reply",
            )
        }
        Protocol::GreetEcho => {
            let mut greeting = String::new();
            reader.read_line(&mut greeting)?;
            expect(greeting.starts_with("You are connected"), "no greeting")?;
            writer.write_all(b"ping\n")?;
            let mut echo = [0u8; 5];
            reader.read_exact(&mut echo)?;
            expect(&echo == b"ping\n", "the echo differs")
        }
    }
    // The stream is dropped here: the client hangs up.
}
// ANCHOR_END: protocol

fn expect(condition: bool, what: &str) -> io::Result<()> {
    match condition {
        true => Ok(()),
        false => {
            Err(io::Error::new(io::ErrorKind::InvalidData, what.to_string()))
        }
    }
}

// ANCHOR: measure
/// Runs sessions from `clients` threads at once for `span`, and returns the
/// sessions completed per second and the number that failed.
fn measure(
    addr: SocketAddr,
    protocol: Protocol,
    clients: usize,
    span: Duration,
) -> (f64, u64) {
    let completed = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + span;
    thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    match session(addr, protocol) {
                        Ok(()) => completed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let rate = completed.load(Ordering::Relaxed) as f64 / elapsed;
    (rate, failed.load(Ordering::Relaxed))
}
// ANCHOR_END: measure

/// Settings from the command line.
struct Settings {
    span: Duration,
    clients: Vec<usize>,
    max_procs: usize,
    servers: Vec<(String, Protocol)>,
}

fn parse_args(args: &[String]) -> Option<Settings> {
    let mut settings = Settings {
        span: Duration::from_secs(3),
        clients: vec![1, 4, 16],
        max_procs: 2,
        servers: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let seconds: f64 = args.next()?.parse().ok()?;
                settings.span = Duration::try_from_secs_f64(seconds).ok()?;
            }
            "--clients" => {
                let list = args.next()?.split(',').map(|n| n.parse().ok());
                settings.clients = list.collect::<Option<Vec<usize>>>()?;
            }
            "--max-procs" => settings.max_procs = args.next()?.parse().ok()?,
            server if !server.starts_with('-') => {
                let (name, protocol) = server.split_once('=')?;
                let protocol = match protocol {
                    "line" => Protocol::Line,
                    "greet-echo" => Protocol::GreetEcho,
                    _ => return None,
                };
                settings.servers.push((name.to_string(), protocol));
            }
            _ => return None,
        }
    }
    let sane = settings.clients.iter().all(|&n| (1..=256).contains(&n))
        && !settings.clients.is_empty()
        && settings.max_procs >= 1
        && !settings.span.is_zero();
    sane.then_some(settings)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mut settings) = parse_args(&args) else {
        complain(format_args!("{USAGE}"));
        return ExitCode::from(2);
    };
    if settings.servers.is_empty() {
        let defaults: Vec<String> =
            DEFAULT_SERVERS.iter().map(|s| s.to_string()).collect();
        settings.servers =
            parse_args(&defaults).map(|d| d.servers).unwrap_or_default();
    }
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            complain(format_args!("{message}"));
            ExitCode::FAILURE
        }
    }
}

/// Measures every server and prints the table; the error says what went
/// wrong, in one line.
fn run(settings: &Settings) -> Result<(), String> {
    say(format_args!("{}", machine()))?;
    say(format_args!(
        "MAX_PROCS={}, {} s per measurement, a new connection per session\n",
        settings.max_procs,
        settings.span.as_secs_f64()
    ))?;
    let header: Vec<String> = settings
        .clients
        .iter()
        .map(|n| format!("{n} client{}", if *n == 1 { "" } else { "s" }))
        .collect();
    say(format_args!("| server | {} |", header.join(" | ")))?;
    say(format_args!("|:--|{}", "--:|".repeat(header.len())))?;

    for (name, protocol) in &settings.servers {
        let binary = locate(name)?;
        let mut server = RunningServer::start(&binary, settings.max_procs)
            .map_err(|err| {
                format!("could not start {}: {err}", binary.display())
            })?;
        let mut cells = Vec::new();
        for &clients in &settings.clients {
            let (rate, failed) =
                measure(server.addr, *protocol, clients, settings.span);
            cells.push(match failed {
                0 => format!("{rate:.0}"),
                _ => format!("{rate:.0} ({failed} failed)"),
            });
        }
        server.stop();
        let shown = Path::new(name)
            .file_name()
            .map_or(name.clone(), |file| file.to_string_lossy().into_owned());
        say(format_args!("| {shown} | {} |", cells.join(" | ")))?;
    }
    Ok(())
}

/// Prints one line of the results. If it cannot (stdout is a closed pipe,
/// say: `| head -1`), there is no point in measuring on: the error ends the
/// run, where `println!` would panic.
fn say(line: std::fmt::Arguments) -> Result<(), String> {
    writeln!(io::stdout(), "{line}")
        .map_err(|err| format!("could not write the results: {err}"))
}

/// Says what went wrong on stderr, if anyone can read it.
fn complain(line: std::fmt::Arguments) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// A server under test, in a process group of its own so that stopping it
/// stops every process it forked.
struct RunningServer {
    child: Child,
    addr: SocketAddr,
}

impl RunningServer {
    fn start(binary: &Path, max_procs: usize) -> io::Result<RunningServer> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(binary)
            .arg("127.0.0.1:0")
            .env("MAX_PROCS", max_procs.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut server = RunningServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        // Read the `listening on` line, then keep reading and dropping the
        // server's log, or the pipe would fill up and stop the server.
        let (first_line, received) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_line.send(lines.next());
            for _ in lines {}
        });
        let first = received.recv_timeout(SESSION_TIMEOUT).ok().flatten();
        let addr = first
            .and_then(|line| line.ok())
            .and_then(|line| line.strip_prefix("listening on ")?.parse().ok());
        match addr {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None => {
                server.stop();
                Err(io::Error::other("no `listening on <address>` line"))
            }
        }
    }

    /// SIGTERM to the whole group, as a reader's Ctrl-C would; SIGKILL if
    /// that is not enough within a second.
    fn stop(&mut self) {
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The server is gone; finish off anything left in its group.
                let _ = killpg(group, Signal::SIGKILL);
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Finds a server's binary: a path as given, or a listing's package name,
/// built with cargo into the folder this benchmark was built into.
fn locate(server: &str) -> Result<PathBuf, String> {
    if server.contains('/') {
        return Ok(PathBuf::from(server));
    }
    let exe =
        std::env::current_exe().map_err(|err| format!("where am I? {err}"))?;
    // <target>/<profile>/ch10-server-benchmark
    let profile_dir = exe.parent().ok_or("the benchmark has no folder")?;
    let target_dir = profile_dir
        .parent()
        .ok_or("the benchmark is not in a target folder")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--package", server, "--target-dir"])
        .arg(target_dir);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    match build.status() {
        Ok(status) if status.success() => Ok(profile_dir.join(server)),
        Ok(status) => {
            Err(format!("could not build {server}: cargo build {status}"))
        }
        Err(err) => {
            Err(format!("could not run cargo to build {server}: {err}"))
        }
    }
}

/// One line about the machine: CPU model, how many CPUs, kernel.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, model)| {
            model.trim().to_string()
        });
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default();
    format!("machine: {model}, {cpus} CPUs, Linux {}", kernel.trim())
}
