//! Listing 11-3: what a thread costs next to a process. It times creating
//! and ending a thread (spawn + join) and a process (fork + waitpid), one
//! after the other; then it starts four of the book's servers in turn,
//! connects idle clients to each, and reads from /proc how much memory the
//! server (with its children) took for them. It prints two tables.
//!
//! Run it with `cargo run --release -p ch11-thread-cost [--spawns N]
//! [--clients N]` (defaults 1000 and 100). It builds the servers it
//! measures with cargo, into the same target folder.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

const USAGE: &str = "usage: ch11-thread-cost [--spawns N] [--clients N]";
/// How long a server may take to start, and a client to be welcomed.
const PATIENCE: Duration = Duration::from_secs(10);
/// At most this many clients per server: each costs this program a
/// descriptor, and 4 x 500 stays far below the usual limit of 1,024... for
/// one server at a time.
const MOST_CLIENTS: usize = 500;

/// A server to measure: its package, its arguments after the address,
/// and its environment.
struct Measured {
    package: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

/// The servers measured, each told to serve `clients` clients at once.
fn servers(clients: usize) -> Vec<Measured> {
    let n = clients.to_string();
    let server =
        |package, args: &[&str], env: &[(&'static str, &str)]| Measured {
            package,
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        };
    vec![
        server("ch05-select-server", &[&n], &[]),
        server("ch08-forking-echo-server", &[], &[("MAX_PROCS", &n)]),
        server("ch11-thread-per-connection", &[&n], &[]),
        // A worker per client, and a queue of one.
        server("ch11-thread-pool", &[&n, "1"], &[]),
    ]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((spawns, clients)) = parse_args(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(spawns, clients) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// `--spawns N` and `--clients N`, in any order.
fn parse_args(args: &[String]) -> Option<(usize, usize)> {
    let (mut spawns, mut clients) = (1000, 100);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value: usize = args.next()?.parse().ok()?;
        match arg.as_str() {
            "--spawns" if (1..=100_000).contains(&value) => spawns = value,
            "--clients" if (1..=MOST_CLIENTS).contains(&value) => {
                clients = value;
            }
            _ => return None,
        }
    }
    Some((spawns, clients))
}

fn run(spawns: usize, clients: usize) -> Result<(), String> {
    // Forks first, while this process has one thread: a child forked from
    // a process with several threads may only call async-signal-safe
    // functions, and the timing would include their stacks' page tables.
    let fork = time_forks(spawns).map_err(|err| format!("fork: {err}"))?;
    let spawn = time_threads(spawns).map_err(|err| format!("spawn: {err}"))?;
    say(format_args!("{}\n", machine()))?;
    say(format_args!(
        "Creating and ending, {spawns} of each, one after the other:"
    ))?;
    say(format_args!("| what | µs each |\n|:--|--:|"))?;
    say(format_args!(
        "| a thread: spawn + join | {:.1} |",
        micros(spawn)
    ))?;
    say(format_args!(
        "| a process: fork + waitpid | {:.1} |",
        micros(fork)
    ))?;
    say(format_args!(
        "\nMemory of each server and its children, from /proc, before and \
         with {clients} idle clients (KiB):"
    ))?;
    say(format_args!(
        "| server | tasks | PSS before | PSS with clients | PSS per client \
         | RSS per client | virtual per client |\n\
         |:--|--:|--:|--:|--:|--:|--:|"
    ))?;
    for Measured { package, args, env } in servers(clients) {
        let binary = locate(package)?;
        let (before, after) = measure_memory(&binary, &args, &env, clients)
            .map_err(|err| format!("{package}: {err}"))?;
        let per = |of: fn(&Memory) -> u64| {
            (of(&after) as f64 - of(&before) as f64) / clients as f64
        };
        say(format_args!(
            "| {package} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            after.tasks,
            before.pss,
            after.pss,
            per(|m| m.pss),
            per(|m| m.rss),
            per(|m| m.virt),
        ))?;
    }
    Ok(())
}

fn micros(each: Duration) -> f64 {
    each.as_secs_f64() * 1e6
}

// ANCHOR: creation
/// The mean time to start a thread that does nothing and wait for its end.
fn time_threads(count: usize) -> io::Result<Duration> {
    let started = Instant::now();
    for _ in 0..count {
        let thread = thread::Builder::new().spawn(|| {})?;
        thread
            .join()
            .map_err(|_| io::Error::other("a thread panicked"))?;
    }
    Ok(started.elapsed() / count as u32)
}

/// The mean time to fork a child that exits at once and to reap it.
fn time_forks(count: usize) -> io::Result<Duration> {
    let started = Instant::now();
    for _ in 0..count {
        // SAFETY: this process has a single thread here (`run` forks before
        // it starts any), and the child only calls _exit, which is
        // async-signal-safe.
        match unsafe { fork() }? {
            // SAFETY: _exit ends the child at once, without running this
            // process's exit handlers or flushing its buffers, as a
            // forked child should.
            ForkResult::Child => unsafe { libc::_exit(0) },
            ForkResult::Parent { child } => {
                waitpid(child, None)?;
            }
        }
    }
    Ok(started.elapsed() / count as u32)
}
// ANCHOR_END: creation

/// What /proc says of a process group's memory, summed over its processes.
#[derive(Default)]
struct Memory {
    /// Processes and threads.
    tasks: u64,
    /// Proportional set size: each page in memory, divided among the
    /// processes that share it (KiB).
    pss: u64,
    /// Resident set size: pages in memory, counted in every process that
    /// maps them (KiB).
    rss: u64,
    /// Address space reserved, in memory or not (KiB).
    virt: u64,
}

// ANCHOR: memory
/// Starts `binary` on a free port, reads its memory, connects `clients`
/// clients that each read their first line and then stay silent, and reads
/// it again. Stops the server (and its children) before it returns.
fn measure_memory(
    binary: &Path,
    args: &[String],
    env: &[(&str, String)],
    clients: usize,
) -> io::Result<(Memory, Memory)> {
    let mut command = Command::new(binary);
    command
        .arg("127.0.0.1:0")
        .args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0); // its children too, to count them and stop them
    let mut server = Running(command.spawn()?);
    let group = server.0.id();
    let addr = listening_on(&mut server.0)?;
    let before = group_memory(group);
    let mut connected = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut client = TcpStream::connect(addr)?;
        client.set_read_timeout(Some(PATIENCE))?;
        // The welcome says the server has started serving this client: its
        // thread or child exists.
        read_line(&mut client)?;
        connected.push(client);
    }
    let after = group_memory(group);
    drop(server); // before the clients leave: no one tidies up first
    Ok((before, after))
}
// ANCHOR_END: memory

/// A server, killed with its whole process group when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// Reads the server's first line, `listening on <addr>`, within PATIENCE.
/// The rest of its log is left in the pipe: the book's servers drop lines
/// they cannot write at once.
fn listening_on(server: &mut Child) -> io::Result<SocketAddr> {
    let stdout = server
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let _ = sender.send(reader.read_line(&mut line).map(|_| line));
        // Keep the pipe open, unread, as long as the server runs.
        let _ = reader.fill_buf();
    });
    let line = receiver
        .recv_timeout(PATIENCE)
        .map_err(|_| io::Error::other("no `listening on` line"))??;
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| io::Error::other(format!("first line: {line:?}")))
}

/// Reads up to and including the first newline.
fn read_line(client: &mut TcpStream) -> io::Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match client.read(&mut byte)? {
            0 => return Err(io::Error::other("closed before a whole line")),
            _ if byte[0] == b'\n' => return Ok(()),
            _ => {}
        }
    }
}

/// The memory of every process in process group `group`.
fn group_memory(group: u32) -> Memory {
    let mut total = Memory::default();
    let Ok(entries) = fs::read_dir("/proc") else {
        return total;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok())
        else {
            continue;
        };
        if process_group(pid) != Some(group) {
            continue;
        }
        let status = fs::read_to_string(format!("/proc/{pid}/status"));
        let status = status.unwrap_or_default();
        total.tasks += field(&status, "Threads:");
        total.virt += field(&status, "VmSize:");
        let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"));
        let rollup = rollup.unwrap_or_default();
        total.pss += field(&rollup, "Pss:");
        total.rss += field(&rollup, "Rss:");
    }
    total
}

/// The process group of `pid`, from /proc/<pid>/stat: the fifth field,
/// counted after the command name in parentheses (which may hold spaces).
fn process_group(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// The number after `name` on its line, such as `Pss:   123 kB`.
fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

/// Finds a listing's binary: built with cargo into the folder this program
/// was built into (`target/release`, say).
fn locate(package: &str) -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|err| format!("where am I? {err}"))?;
    let profile_dir = exe.parent().ok_or("this program has no folder")?;
    let target_dir = profile_dir
        .parent()
        .ok_or("this program is not in a target folder")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--package", package, "--target-dir"])
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
        Ok(status) if status.success() => Ok(profile_dir.join(package)),
        Ok(status) => {
            Err(format!("could not build {package}: cargo build {status}"))
        }
        Err(err) => {
            Err(format!("could not run cargo to build {package}: {err}"))
        }
    }
}

/// One line about the machine: CPU model, how many CPUs, kernel.
fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, model)| {
            model.trim().to_string()
        });
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel =
        fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("machine: {model}, {cpus} CPUs, Linux {}", kernel.trim())
}

/// Prints one line of the results; an error (a closed stdout) ends the run.
fn say(line: std::fmt::Arguments) -> Result<(), String> {
    writeln!(io::stdout(), "{line}")
        .map_err(|err| format!("could not write the results: {err}"))
}
