//! Listing 14-1: every server design of the book, on the same loads, in one
//! run. For each design it builds the listing, starts it on a loopback port
//! the kernel picks, and runs short sessions (connect, one line, the reply,
//! hang up) and long ones (clients stay connected and exchange lines), at
//! 10, 1,000 and 10,000 clients. It reports the rate, the spread of reply
//! times, the server's CPU time and memory (from /proc), the load
//! generator's own CPU share, and the server's CPU while every client is
//! idle; then it writes the table as Markdown and draws an SVG chart.
//!
//!     cargo run --release -p ch14-benchmark
//!
//! Options pick designs, loads, numbers of clients and durations; see
//! `--help`. Where `php` is installed, the original's select server runs
//! too, as the baseline. Nothing leaves this machine.

mod chart;
mod load;
mod procfs;

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::prctl;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use load::{Generator, Protocol, grouped};

const USAGE: &str = "\
usage: ch14-benchmark [--designs NAME,...] [--loads short,long]
                      [--clients N,...] [--seconds S] [--idle-seconds S]
                      [--active N] [--pool N] [--max-count N] [--out DIR]
  --designs       iterative, select, poll, epoll, fork, prefork, threads,
                  thread-pool, tokio, php (default: all of them)
  --loads         short sessions, long sessions, or both (default)
  --clients       clients at once (default 10,1000,10000)
  --seconds       how long each load runs (default 3)
  --idle-seconds  how long the server's CPU is watched while every client
                  of a long load is idle (default 2)
  --active        of more than 1,000 connected clients, how many send
                  lines (default 100)
  --pool          workers of the prefork pool and of the thread pool
                  (default 100)
  --max-count     stop a load after this many sessions or replies
                  (default 1000000)
  --out           folder for benchmark.md and benchmark.svg (default
                  <cargo target folder>/ch14-benchmark)";

// ANCHOR: designs
/// How a design is started, and which numbers it is given.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    /// `ADDR` only (chapter 3).
    Addr,
    /// `ADDR MAX_CLIENTS MAX_IDLE_SECS`, the new servers' arguments.
    Slots,
    /// `ADDR`, and `MAX_PROCS` processes: as many as clients (chapter 8).
    ProcessPerClient,
    /// `ADDR`, and a pool of `MAX_PROCS` workers (chapter 10).
    ProcessPool,
    /// `ADDR WORKERS QUEUE MAX_IDLE_SECS`: a pool of threads, with a queue
    /// long enough for every client to wait in (chapter 11).
    ThreadPool,
    /// The original PHP select server, with enough slots.
    Php,
}

/// One server design of the book.
struct Design {
    name: &'static str,
    package: &'static str,
    protocol: Protocol,
    start: Start,
}

const DESIGNS: [Design; 10] = [
    design(
        "iterative",
        "ch03-tcp-server-loop",
        Protocol::OneShot,
        Start::Addr,
    ),
    design(
        "select",
        "ch05-select-server",
        Protocol::Select,
        Start::Slots,
    ),
    design("poll", "ch12-poll-server", Protocol::Select, Start::Slots),
    design("epoll", "ch12-epoll-server", Protocol::Select, Start::Slots),
    design(
        "fork",
        "ch08-forking-echo-server",
        Protocol::GreetEcho,
        Start::ProcessPerClient,
    ),
    design(
        "prefork",
        "ch10-worker-pool",
        Protocol::GreetEcho,
        Start::ProcessPool,
    ),
    design(
        "threads",
        "ch11-thread-per-connection",
        Protocol::Select,
        Start::Slots,
    ),
    design(
        "thread-pool",
        "ch11-thread-pool",
        Protocol::Select,
        Start::ThreadPool,
    ),
    design("tokio", "ch13-tokio-server", Protocol::Select, Start::Slots),
    design(
        "php",
        "original/php/14-select-server.php",
        Protocol::Select,
        Start::Php,
    ),
];
// ANCHOR_END: designs

const fn design(
    name: &'static str,
    package: &'static str,
    protocol: Protocol,
    start: Start,
) -> Design {
    Design {
        name,
        package,
        protocol,
        start,
    }
}

/// Slots and processes beyond the number of clients: a short session's
/// client may connect again before the server has seen it hang up.
const SPARE_SLOTS: usize = 20;
/// A long load's clients connect this many at a time: the original's
/// listen queue holds 10, and a client beyond it waits for its SYN to be
/// sent again, one second later, then three, then seven.
const CONNECTING_AT_ONCE: usize = 10;
/// How long the long load's clients may go without a welcome before the
/// load gives up: time for a few SYN retransmissions.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);
/// The longest the long load's clients may take to connect, all of them.
const CONNECT_LIMIT: Duration = Duration::from_secs(90);
/// How long a load waits for a reply, or a welcome, before giving up.
const PATIENCE: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Load {
    Short,
    Long,
}

struct Settings {
    designs: Vec<&'static Design>,
    loads: Vec<Load>,
    clients: Vec<usize>,
    span: Duration,
    idle: Duration,
    active: usize,
    pool: usize,
    max_count: u64,
    out: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Option<Settings> {
    let mut settings = Settings {
        designs: DESIGNS.iter().collect(),
        loads: vec![Load::Short, Load::Long],
        clients: vec![10, 1000, 10000],
        span: Duration::from_secs(3),
        idle: Duration::from_secs(2),
        active: 100,
        pool: 100,
        max_count: 1_000_000,
        out: None,
    };
    let seconds = |text: &str| {
        let seconds: f64 = text.parse().ok()?;
        Duration::try_from_secs_f64(seconds).ok()
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next()?;
        match arg.as_str() {
            "--designs" => {
                let names = value.split(',');
                let found = names.map(|name| {
                    DESIGNS.iter().find(|design| design.name == name)
                });
                settings.designs = found.collect::<Option<Vec<_>>>()?;
            }
            "--loads" => {
                let loads = value.split(',').map(|load| match load {
                    "short" => Some(Load::Short),
                    "long" => Some(Load::Long),
                    _ => None,
                });
                settings.loads = loads.collect::<Option<Vec<_>>>()?;
            }
            "--clients" => {
                let list = value.split(',').map(|n| n.parse().ok());
                settings.clients = list.collect::<Option<Vec<usize>>>()?;
            }
            "--seconds" => settings.span = seconds(value)?,
            "--idle-seconds" => settings.idle = seconds(value)?,
            "--active" => settings.active = value.parse().ok()?,
            "--pool" => settings.pool = value.parse().ok()?,
            "--max-count" => settings.max_count = value.parse().ok()?,
            "--out" => settings.out = Some(PathBuf::from(value)),
            _ => return None,
        }
    }
    let sane = settings.clients.iter().all(|&n| (1..=50_000).contains(&n))
        && !settings.clients.is_empty()
        && !settings.designs.is_empty()
        && !settings.loads.is_empty()
        && settings.active >= 1
        && settings.pool >= 1
        && settings.max_count >= 1
        && !settings.span.is_zero();
    sane.then_some(settings)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        return match writeln!(io::stdout(), "{USAGE}") {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let Some(settings) = parse_args(&args) else {
        complain(format_args!("{USAGE}"));
        return ExitCode::from(2);
    };
    match run(&settings, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            complain(format_args!("{message}"));
            ExitCode::FAILURE
        }
    }
}

/// What one load on one design gave.
struct Cell {
    design: &'static str,
    load: Load,
    clients: usize,
    result: Result<Measured, String>,
}

#[derive(Default)]
struct Measured {
    /// Sessions or replies per second.
    rate: f64,
    median_ms: f64,
    p99_ms: f64,
    slowest_ms: f64,
    /// CPU seconds per second of the load: 1.0 is one core kept busy.
    server_cores: f64,
    load_cores: f64,
    /// CPU the rest of the machine used during the load (other programs,
    /// this benchmark's helper threads aside).
    other_cores: f64,
    /// The server's CPU time for the whole load, and what it did with it.
    server_cpu: f64,
    completed: u64,
    peak_kib: u64,
    /// CPU time the server used while every client was idle, and for how
    /// long it was watched.
    idle_cpu: Option<(f64, Duration)>,
    active: usize,
    /// No session failed, and none was left unfinished.
    flawless: bool,
    notes: Vec<String>,
}

fn run(settings: &Settings, args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let mut text = String::new();
    let command = match args.is_empty() {
        true => "cargo run --release -p ch14-benchmark".to_string(),
        false => format!(
            "cargo run --release -p ch14-benchmark -- {}",
            args.join(" ")
        ),
    };
    let _ = writeln!(text, "{}\n", machine());
    let _ = writeln!(text, "Command: `{command}`\n");
    let _ = writeln!(text, "Load average before: {}\n", load_average());
    say(&text)?;

    // Room for 10,000 clients here and 10,000 connections in each server
    // (servers inherit the limit).
    let most = settings.clients.iter().max().copied().unwrap_or(0);
    allow_descriptors(most as u64 * 2 + 100)?;
    let target = target_dir()?;

    let mut cells = Vec::new();
    let mut header = String::new();
    let _ = writeln!(
        header,
        "| design | load | clients | per second | median | p99 | slowest \
         | server CPU | CPU per 1,000 | peak memory | load CPU | other CPU \
         | idle CPU | notes |"
    );
    let _ = writeln!(
        header,
        "|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:--|"
    );
    say(&header)?;
    text.push_str(&header);
    for design in &settings.designs {
        let program = match prepare(design, &target) {
            Ok(program) => program,
            Err(why) => {
                let row = format!(
                    "| {} |{} {} |\n",
                    design.name,
                    " |".repeat(12),
                    cell_text(&why)
                );
                say(&row)?;
                text.push_str(&row);
                continue;
            }
        };
        let mut rows = Ok(());
        'loads: for &load in &settings.loads {
            for &clients in &settings.clients {
                let cell = measure(design, &program, load, clients, settings);
                let row = row(&cell);
                text.push_str(&row);
                cells.push(cell);
                rows = say(&row);
                if rows.is_err() {
                    break 'loads;
                }
            }
        }
        if let Program::Php(script) = &program {
            if let Some(folder) = script.parent() {
                let _ = fs::remove_dir_all(folder);
            }
        }
        rows?;
    }
    let summary = targets(&cells);
    let side_by_side = side_by_side(&settings.designs, &cells);
    let footer = format!(
        "\n{side_by_side}\n{summary}\nLoad average after: {}. The run took \
         {:.0} s.\n",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    say(&footer)?;
    text.push_str(&footer);

    let out = match &settings.out {
        Some(out) => out.clone(),
        None => target.join("ch14-benchmark"),
    };
    fs::create_dir_all(&out)
        .map_err(|err| format!("could not create {}: {err}", out.display()))?;
    let table = out.join("benchmark.md");
    fs::write(&table, &text)
        .map_err(|err| format!("could not write {}: {err}", table.display()))?;
    let svg = out.join("benchmark.svg");
    let names: Vec<&str> = settings.designs.iter().map(|d| d.name).collect();
    let points = cells
        .iter()
        .filter_map(|cell| {
            let measured = cell.result.as_ref().ok()?;
            (measured.rate > 0.0).then_some(chart::Point {
                design: cell.design,
                long: cell.load == Load::Long,
                clients: cell.clients,
                rate: measured.rate,
                p99_ms: measured.p99_ms,
            })
        })
        .collect::<Vec<_>>();
    chart::draw(&svg, &names, &points)
        .map_err(|err| format!("could not draw {}: {err}", svg.display()))?;
    say(&format!(
        "Wrote {} and {}\n",
        table.display(),
        svg.display()
    ))?;
    Ok(())
}

/// The program that runs a design: a listing built with cargo, or the PHP
/// original with its edits; or why there is none.
enum Program {
    Binary(PathBuf),
    Php(PathBuf),
}

fn prepare(design: &Design, target: &Path) -> Result<Program, String> {
    let root = workspace_root();
    if design.start == Start::Php {
        return php_original(&root.join(design.package)).map(Program::Php);
    }
    if !root
        .join("listings")
        .join(design.package)
        .join("Cargo.toml")
        .exists()
    {
        return Err(format!("not in this build (no {})", design.package));
    }
    build(design.package, target).map(Program::Binary)
}

/// Starts a fresh server and runs one load on it.
fn measure(
    design: &Design,
    program: &Program,
    load: Load,
    clients: usize,
    settings: &Settings,
) -> Cell {
    let result = Server::start(design, program, clients, settings.pool)
        .and_then(|mut server| {
            let measured =
                run_load(design, &mut server, load, clients, settings);
            server.stop();
            measured
        });
    Cell {
        design: design.name,
        load,
        clients,
        result,
    }
}

// ANCHOR: run_load
/// Runs one load on a running server, and reads what it cost.
fn run_load(
    design: &Design,
    server: &mut Server,
    load: Load,
    clients: usize,
    settings: &Settings,
) -> Result<Measured, String> {
    let group = server.group();
    let sampler =
        procfs::MemorySampler::start(group, Duration::from_millis(200));
    let mut generator = Generator::new(server.addr, design.protocol)?;
    let mut active = clients;
    let mut connecting = None;
    if load == Load::Long {
        let started = Instant::now();
        if let Err(why) = generator.connect_all(
            clients,
            CONNECTING_AT_ONCE,
            CONNECT_PATIENCE,
            CONNECT_LIMIT,
        ) {
            sampler.peak_kib();
            // Asked while the clients are still connected: the original
            // dies when one of them leaves, as they all do at the end.
            return Err(match server.death() {
                Some(death) => format!("{why}; the server died: {death}"),
                None => why,
            });
        }
        connecting = Some(started.elapsed());
        if clients > 1000 {
            active = settings.active.min(clients);
        }
    }
    let server_before = procfs::group_cpu(group);
    let own_before = procfs::own_cpu();
    let process_before = procfs::process_cpu();
    let machine_before = procfs::machine_busy();
    let started = Instant::now();
    let outcome = match load {
        Load::Short => generator.short_sessions(
            clients,
            settings.span,
            settings.max_count,
            PATIENCE,
        ),
        // The generator lives on: its clients stay connected while the
        // server's idle CPU is watched.
        Load::Long => generator.exchange(
            active,
            settings.span,
            settings.max_count,
            PATIENCE,
        ),
    };
    let machine_busy = procfs::machine_busy() - machine_before;
    let process_cpu = procfs::process_cpu() - process_before;
    let own_cpu = procfs::own_cpu() - own_before;
    let window = started.elapsed().as_secs_f64().max(1e-9);
    let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
    let server_cpu = procfs::group_cpu(group) - server_before;
    let server_cores = server_cpu / seconds;
    let load_cores = own_cpu / seconds;
    // What the rest of the machine took meanwhile: every busy tick that was
    // neither the server's nor this process's.
    let others = machine_busy - server_cpu - process_cpu;
    let other_cores = others.max(0.0) / window;

    let mut idle_cpu = None;
    if load == Load::Long && generator.connected() == clients {
        let before = procfs::group_cpu(group);
        thread::sleep(settings.idle);
        idle_cpu = Some((procfs::group_cpu(group) - before, settings.idle));
    }
    // ANCHOR_END: run_load
    let peak_kib = sampler.peak_kib();
    // Asked before the clients hang up: the original dies when one leaves.
    if let Some(death) = server.death() {
        return Err(format!(
            "the server died after {} {}: {death}",
            grouped(outcome.completed),
            match (load, outcome.completed) {
                (Load::Short, 1) => "session",
                (Load::Short, _) => "sessions",
                (Load::Long, 1) => "reply",
                (Load::Long, _) => "replies",
            }
        ));
    }
    drop(generator);

    let mut times = outcome.times;
    times.sort_unstable();
    let at = |fraction: f64| match times.len() {
        0 => 0.0,
        n => {
            let index = ((n - 1) as f64 * fraction).round() as usize;
            times[index] as f64 / 1000.0
        }
    };
    if load == Load::Long && outcome.failed >= active as u64 {
        return Err(format!(
            "every active client was lost, the first: {}",
            outcome.first_failure.unwrap_or_default()
        ));
    }
    let mut notes = Vec::new();
    if let Some(connecting) = connecting {
        // Connecting ten thousand clients shows what each one costs the
        // server to take on: a process, a thread, or a slot.
        notes.push(format!("connected in {:.1} s", connecting.as_secs_f64()));
    }
    if outcome.failed > 0 {
        notes.push(format!(
            "{} failed, the first: {}",
            grouped(outcome.failed),
            outcome.first_failure.unwrap_or_default()
        ));
    }
    if outcome.unfinished > 0 {
        notes.push(format!(
            "{} still waiting after {} s",
            grouped(outcome.unfinished),
            PATIENCE.as_secs()
        ));
    }
    Ok(Measured {
        rate: outcome.completed as f64 / seconds,
        median_ms: at(0.5),
        p99_ms: at(0.99),
        slowest_ms: at(1.0),
        server_cores,
        load_cores,
        other_cores,
        server_cpu,
        completed: outcome.completed,
        peak_kib,
        idle_cpu,
        active,
        flawless: outcome.failed == 0 && outcome.unfinished == 0,
        notes,
    })
}

/// A server under test, in a process group of its own: stopping it stops
/// every process it forked, and /proc finds them all by their group.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Why the server stopped, if it did: the first lines it wrote to
    /// stderr (PHP follows its error with a stack trace), and the
    /// original's `die()` message, which goes to stdout.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(
        design: &Design,
        program: &Program,
        clients: usize,
        pool: usize,
    ) -> Result<Server, String> {
        use std::os::unix::process::CommandExt;
        let slots = (clients + SPARE_SLOTS).to_string();
        let mut command = match program {
            Program::Binary(binary) => Command::new(binary),
            Program::Php(script) => {
                let mut command = Command::new("php");
                command.args(["-d", "display_errors=0", "-d", "log_errors=1"]);
                command.args(["-d", "error_log="]).arg(script);
                command
            }
        };
        match design.start {
            Start::Addr => command.arg("127.0.0.1:0"),
            Start::Slots => command.args(["127.0.0.1:0", &slots, "3600"]),
            Start::ProcessPerClient => {
                command.arg("127.0.0.1:0").env("MAX_PROCS", &slots)
            }
            Start::ProcessPool => command
                .arg("127.0.0.1:0")
                .env("MAX_PROCS", pool.to_string()),
            Start::ThreadPool => {
                command.args(["127.0.0.1:0", &pool.to_string(), &slots, "3600"])
            }
            Start::Php => command.env("MAX_CLIENTS", &slots),
        };
        // The server gets a process group of its own, so that stop() can
        // signal it and its children at once; so Ctrl-C at the terminal
        // does not reach it. Should the benchmark die without stopping it
        // (Ctrl-C, kill -9), the kernel kills it: the parent-death signal.
        // SAFETY: between fork and exec the closure only makes one system
        // call, prctl, which is async-signal-safe, and allocates nothing.
        unsafe {
            command.pre_exec(|| {
                prctl::set_pdeathsig(Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|err| format!("could not start {}: {err}", design.name))?;
        let (stdout, stderr_pipe) =
            match (child.stdout.take(), child.stderr.take()) {
                (Some(stdout), Some(stderr)) => (stdout, stderr),
                _ => return Err("no pipes to the server".to_string()),
            };
        // Read lines until `listening on <addr>`, then keep reading and
        // dropping the log: a full pipe would stop the server.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let last_words = Arc::clone(&stderr);
        let (found, listening) = mpsc::channel();
        thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The original dies with its reason on stdout.
                if line.starts_with("Could not") {
                    if let Ok(mut lines) = last_words.lock() {
                        lines.push(line.chars().take(200).collect());
                    }
                }
                if let Some(addr) = line.strip_prefix("listening on ") {
                    if let Some(found) = found.take() {
                        let _ = found.send(addr.trim().parse().ok());
                    }
                }
            }
        });
        let first_lines = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                // The original warns about a missing array key on every
                // round of its loop (chapter 5): that says nothing new.
                if line.contains("Undefined array key")
                    || line.starts_with("Stack trace:")
                    || line.starts_with('#')
                    || line.trim_start().starts_with("thrown in")
                {
                    continue;
                }
                // A fatal error says more than the warnings before it.
                let fatal = line.contains("Fatal error");
                if let Ok(mut lines) = first_lines.lock() {
                    if fatal {
                        lines.clear();
                    }
                    if lines.len() < 2 || fatal {
                        lines.push(line.chars().take(200).collect());
                    }
                }
            }
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        match listening.recv_timeout(Duration::from_secs(10)) {
            Ok(Some(addr)) => {
                server.addr = addr;
                Ok(server)
            }
            _ => {
                // It may still be writing why it stopped: give it a moment.
                let deadline = Instant::now() + Duration::from_secs(1);
                while Instant::now() < deadline && server.death().is_none() {
                    thread::sleep(Duration::from_millis(20));
                }
                let why = server
                    .death()
                    .unwrap_or("no `listening on <addr>` line".to_string());
                server.stop();
                Err(format!("could not start: {why}"))
            }
        }
    }

    fn group(&self) -> i32 {
        self.child.id() as i32
    }

    /// How the server ended, if it has: its status and its last words.
    fn death(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        // Let the stderr reader take the last lines.
        thread::sleep(Duration::from_millis(50));
        let said = self
            .stderr
            .lock()
            .map(|lines| lines.join(" / "))
            .unwrap_or_default()
            .replace(&format!("{}/", php_folder().display()), "");
        Some(format!("{status}: {said}"))
    }

    /// SIGTERM to the whole group, then SIGKILL to whatever is left of it.
    fn stop(&mut self) {
        let group = Pid::from_raw(self.group());
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

// ANCHOR: php
/// The original's select server (chapter 5), with three declared edits: it
/// listens on loopback, on a port the kernel picks, which it prints as our
/// servers do; and it has as many slots as `MAX_CLIENTS` says, not 10.
fn php_original(source: &Path) -> Result<PathBuf, String> {
    let php = Command::new("php")
        .args(["-r", "exit(extension_loaded('sockets') ? 0 : 1);"])
        .status();
    if !php.is_ok_and(|status| status.success()) {
        return Err("php with its sockets extension is not installed".into());
    }
    let original = fs::read_to_string(source)
        .map_err(|err| format!("could not read {}: {err}", source.display()))?;
    let edits = [
        (r#"$address = "0.0.0.0";"#, r#"$address = "127.0.0.1";"#),
        (
            "socket_bind($sock, $address, 5000)",
            "socket_bind($sock, $address, 0)",
        ),
        (
            r#"echo "Socket listen OK \n";"#,
            concat!(
                r#"socket_getsockname($sock, $a, $p); "#,
                r#"echo "listening on $a:$p\n";"#
            ),
        ),
        (
            "$max_clients = 10;",
            r#"$max_clients = (int) getenv("MAX_CLIENTS");"#,
        ),
    ];
    let mut program = original;
    for (from, to) in edits {
        if program.matches(from).count() != 1 {
            return Err(format!("{} no longer has {from}", source.display()));
        }
        program = program.replace(from, to);
    }
    let folder = php_folder();
    let script = folder.join("select-server.php");
    fs::create_dir_all(&folder)
        .and_then(|()| fs::write(&script, program))
        .map_err(|err| {
            format!("could not write {}: {err}", script.display())
        })?;
    Ok(script)
}
// ANCHOR_END: php

/// Where the original's script is written: a folder of this run's own.
fn php_folder() -> PathBuf {
    std::env::temp_dir().join(format!("ch14-benchmark-{}", std::process::id()))
}

/// Builds a listing with cargo into the folder this benchmark was built
/// into, with the same profile, and returns the binary's path.
fn build(package: &str, target: &Path) -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|err| format!("where am I? {err}"))?;
    let profile_dir = exe.parent().ok_or("the benchmark has no folder")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--package", package, "--target-dir"])
        .arg(target);
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
        Err(err) => Err(format!("could not run cargo: {err}")),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// <target>/<profile>/ch14-benchmark: the target folder.
fn target_dir() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|err| format!("where am I? {err}"))?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| "the benchmark is not in a target folder".to_string())
}

/// Raises this process's soft limit on descriptors to `needed`, or as far
/// as the hard limit allows.
fn allow_descriptors(needed: u64) -> Result<(), String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|err| format!("could not read the descriptor limit: {err}"))?;
    if soft >= needed {
        return Ok(());
    }
    setrlimit(Resource::RLIMIT_NOFILE, needed.min(hard), hard).map_err(|err| {
        format!("could not raise the descriptor limit to {needed}: {err}")
    })
}

// ANCHOR: row
/// One row of the table.
fn row(cell: &Cell) -> String {
    let load = match cell.load {
        Load::Short => "short",
        Load::Long => "long",
    };
    let mut clients = grouped(cell.clients as u64);
    let measured = match &cell.result {
        Ok(measured) => measured,
        Err(why) => {
            return format!(
                "| {} | {load} | {clients} |{} {} |\n",
                cell.design,
                " |".repeat(10),
                cell_text(why)
            );
        }
    };
    if measured.active < cell.clients {
        let _ =
            write!(clients, " ({} active)", grouped(measured.active as u64));
    }
    let idle = match measured.idle_cpu {
        Some((cpu, span)) => {
            format!("{:.1} ms in {} s", cpu * 1000.0, span.as_secs_f64())
        }
        None => String::new(),
    };
    // CPU time per 1,000 sessions or replies: the cost of the work itself,
    // whatever the rate (Stevens's tables give CPU time for a fixed load).
    let per_thousand =
        measured.server_cpu * 1000.0 / (measured.completed.max(1) as f64);
    format!(
        "| {} | {load} | {clients} | {} | {} | {} | {} | {:.2} s ({:.0}%) \
         | {} | {} | {:.0}% | {:.0}% | {idle} | {} |\n",
        cell.design,
        grouped(measured.rate.round() as u64),
        millis(measured.median_ms),
        millis(measured.p99_ms),
        millis(measured.slowest_ms),
        measured.server_cpu,
        measured.server_cores * 100.0,
        millis(per_thousand * 1000.0),
        mebibytes(measured.peak_kib),
        measured.load_cores * 100.0,
        measured.other_cores * 100.0,
        cell_text(&measured.notes.join("; "))
    )
}
// ANCHOR_END: row

// ANCHOR: side_by_side
/// Stevens's table, from this run: one row per design, with the figures
/// that tell the designs apart.
fn side_by_side(designs: &[&Design], cells: &[Cell]) -> String {
    let mut text = String::from(
        "Designs side by side:\n\n| design | most long clients served \
         | short sessions/s, 1,000 clients | replies/s, 1,000 clients \
         | CPU per 1,000 replies | p99 reply, 10,000 connected \
         | memory, most clients | CPU while idle |\n\
         |:--|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for design in designs {
        let ran = |load: Load, clients: usize| {
            cells
                .iter()
                .find(|c| {
                    c.design == design.name
                        && c.load == load
                        && c.clients == clients
                })
                .and_then(|c| c.result.as_ref().ok())
                .filter(|m| m.rate > 0.0 && m.flawless)
        };
        let long: Vec<(usize, &Measured)> = cells
            .iter()
            .filter(|c| c.design == design.name && c.load == Load::Long)
            .filter_map(|c| Some((c.clients, ran(Load::Long, c.clients)?)))
            .collect();
        let most = long.iter().max_by_key(|(clients, _)| *clients);
        let rate = |m: Option<&Measured>| {
            m.map_or("–".to_string(), |m| grouped(m.rate.round() as u64))
        };
        let per_thousand = ran(Load::Long, 1000).map_or("–".into(), |m| {
            millis(m.server_cpu * 1e6 / m.completed.max(1) as f64)
        });
        let idle = long
            .iter()
            .filter_map(|(_, m)| m.idle_cpu.map(|(cpu, _)| cpu))
            .fold(None, |worst: Option<f64>, cpu| {
                Some(worst.map_or(cpu, |worst| worst.max(cpu)))
            })
            .map_or("–".into(), |cpu| format!("{:.1} ms", cpu * 1000.0));
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {per_thousand} | {} | {} | {idle} |",
            design.name,
            most.map_or("none".into(), |(n, _)| grouped(*n as u64)),
            rate(ran(Load::Short, 1000)),
            rate(ran(Load::Long, 1000)),
            ran(Load::Long, 10000).map_or("–".into(), |m| millis(m.p99_ms)),
            most.map_or("–".into(), |(_, m)| mebibytes(m.peak_kib)),
        );
    }
    text
}
// ANCHOR_END: side_by_side

/// The targets of issue 13, checked against this run's figures.
fn targets(cells: &[Cell]) -> String {
    let find = |design: &str, load: Load, clients: usize| {
        cells
            .iter()
            .find(|c| {
                c.design == design && c.load == load && c.clients == clients
            })
            .and_then(|c| c.result.as_ref().ok())
            .filter(|m| m.rate > 0.0)
    };
    let mut text = String::from("Targets:\n\n");
    // 1. The fastest design at 1,000 clients against the PHP original.
    let fastest = cells
        .iter()
        .filter(|c| c.load == Load::Long && c.clients == 1000)
        .filter(|c| c.design != "php")
        .filter_map(|c| Some((c.design, c.result.as_ref().ok()?)))
        .filter(|(_, m)| m.flawless)
        .max_by(|a, b| a.1.rate.total_cmp(&b.1.rate));
    match (fastest, find("php", Load::Long, 1000)) {
        (Some((name, best)), Some(php)) => {
            let ratio = best.rate / php.rate;
            let _ = writeln!(
                text,
                "- 1,000 long clients: the fastest design, {name}, gave {} \
                 replies/s, {ratio:.2}x the PHP original's {} (target 2.5x): \
                 {}.",
                grouped(best.rate as u64),
                grouped(php.rate as u64),
                verdict(ratio >= 2.5)
            );
        }
        _ => text.push_str(
            "- 1,000 long clients against PHP: not measured in this run.\n",
        ),
    }
    // 2. epoll against poll at 10,000 connected clients.
    match (
        find("epoll", Load::Long, 10000),
        find("poll", Load::Long, 10000),
    ) {
        (Some(epoll), Some(poll)) => {
            let ratio = epoll.p99_ms / poll.p99_ms;
            let _ = writeln!(
                text,
                "- 10,000 connected clients: epoll's 99th percentile {} is \
                 {ratio:.2} of poll's {} (target at most 0.2): {}.",
                millis(epoll.p99_ms),
                millis(poll.p99_ms),
                verdict(ratio <= 0.2)
            );
        }
        _ => text.push_str(
            "- 10,000 connected clients, epoll against poll: not measured in \
             this run.\n",
        ),
    }
    let select = cells.iter().find(|c| {
        c.design == "select" && c.load == Load::Long && c.clients == 10000
    });
    if let Some(Cell {
        result: Err(why), ..
    }) = select
    {
        let _ = writeln!(text, "  select could not run there: {why}.");
    }
    // 3. tokio against epoll, on every load both ran.
    for cell in cells.iter().filter(|c| c.design == "tokio") {
        let (Some(tokio), Some(epoll)) = (
            find("tokio", cell.load, cell.clients),
            find("epoll", cell.load, cell.clients),
        ) else {
            continue;
        };
        let ratio = tokio.rate / epoll.rate;
        let _ = writeln!(
            text,
            "- {:?} sessions, {} clients: tokio {} per second, {:.2}x epoll's \
             {} (target at least 0.8x): {}.",
            cell.load,
            grouped(cell.clients as u64),
            grouped(tokio.rate as u64),
            ratio,
            grouped(epoll.rate as u64),
            verdict(ratio >= 0.8)
        );
    }
    // 4. CPU while every client is idle.
    let mut idle: Vec<(&str, f64, f64)> = Vec::new();
    for cell in cells {
        let Some((cpu, span)) =
            cell.result.as_ref().ok().and_then(|m| m.idle_cpu)
        else {
            continue;
        };
        let share = cpu / span.as_secs_f64();
        match idle.iter_mut().find(|(name, _, _)| *name == cell.design) {
            Some(entry) if entry.1 < share => {
                *entry = (cell.design, share, cpu)
            }
            Some(_) => {}
            None => idle.push((cell.design, share, cpu)),
        }
    }
    if !idle.is_empty() {
        let worst = idle.iter().map(|(_, share, _)| *share).fold(0.0, f64::max);
        let each: Vec<String> = idle
            .iter()
            .map(|(name, _, cpu)| format!("{name} {:.1} ms", cpu * 1000.0))
            .collect();
        let _ = writeln!(
            text,
            "- idle clients: the most CPU any server used while all its \
             clients were idle was {:.1}% of a core ({}; target about 0): {}.",
            worst * 100.0,
            each.join(", "),
            verdict(worst <= 0.01)
        );
    }
    text
}

fn verdict(met: bool) -> &'static str {
    match met {
        true => "met",
        false => "missed",
    }
}

fn millis(ms: f64) -> String {
    match ms {
        ms if ms < 1.0 => format!("{ms:.3} ms"),
        ms if ms < 100.0 => format!("{ms:.2} ms"),
        ms => format!("{} ms", grouped(ms.round() as u64)),
    }
}

fn mebibytes(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Text fit for a table cell: no `|`, no line breaks, nothing Markdown
/// would take for a link or a tag.
fn cell_text(text: &str) -> String {
    let mut cell = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            // Markdown would read these as a column, a link or a tag.
            '|' | '[' | ']' | '<' | '>' | '*' => {
                cell.push('\\');
                cell.push(character);
            }
            '\n' => cell.push(' '),
            _ => cell.push(character),
        }
    }
    cell
}

/// Prints part of the results. If it cannot (stdout is a closed pipe), the
/// error ends the run, where `print!` would panic.
fn say(text: &str) -> Result<(), String> {
    let mut stdout = io::stdout();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| format!("could not write the results: {err}"))
}

fn complain(line: std::fmt::Arguments) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// The machine: CPUs, their model, memory, kernel.
fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, model)| {
            model.trim().to_string()
        });
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|kib| kib.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or("unknown".to_string(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let kernel =
        fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "Machine: {cpus} CPUs ({model}), {memory} of memory, Linux {}",
        kernel.trim()
    )
}

/// The load averages over 1, 5 and 15 minutes: how busy the machine was
/// with other work.
fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let averages: Vec<&str> = text.split_whitespace().take(3).collect();
    averages.join(", ")
}
