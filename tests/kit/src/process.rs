//! Running a listing's binary: in its own process group, with its output
//! collected, every wait bounded, and the whole group killed on drop.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::{Client, timeout};

/// Everything a child wrote to one of its pipes, filled by a reader thread.
#[derive(Default)]
struct Pipe {
    state: Mutex<PipeState>,
    changed: Condvar,
}

#[derive(Default)]
struct PipeState {
    bytes: Vec<u8>,
    closed: bool,
}

impl Pipe {
    #[track_caller]
    fn collect(source: impl Read + Send + 'static) -> Arc<Pipe> {
        let pipe = Arc::new(Pipe::default());
        let filler = Arc::clone(&pipe);
        std::thread::spawn(move || {
            let mut source = source;
            let mut chunk = [0u8; 8192];
            loop {
                let n = source.read(&mut chunk).unwrap_or(0);
                let mut state =
                    filler.state.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    state.closed = true;
                } else {
                    state.bytes.extend_from_slice(&chunk[..n]);
                }
                filler.changed.notify_all();
                if n == 0 {
                    return;
                }
            }
        });
        pipe
    }

    /// Waits until `done` says the collected bytes are enough, or the pipe is
    /// closed, or `limit` passes. Returns what `done` returned last.
    fn wait_for<T>(
        &self,
        limit: Duration,
        mut done: impl FnMut(&[u8], bool) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(found) = done(&state.bytes, state.closed) {
                return Some(found);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn is_closed(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed
    }

    fn text(&self) -> String {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&state.bytes).into_owned()
    }
}

/// `program args`, with `env` added to the environment.
#[track_caller]
fn command<I, S>(
    program: impl AsRef<OsStr>,
    args: I,
    env: &[(&str, &str)],
) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// A running program, started in a process group of its own.
///
/// Dropping it sends `SIGKILL` to the whole group and reaps the program, so
/// the processes it forked go too, even when the test panics. The kernel also
/// kills the program when the *thread* that started it ends, so start
/// programs on the test's own thread, not on a short-lived helper thread.
pub struct Process {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Pipe>,
    stderr: Arc<Pipe>,
    /// How much of stdout `next_line` has handed out.
    read_upto: usize,
    /// A folder of the test's (a script it wrote) to remove once the
    /// program is gone.
    remove_on_drop: Option<PathBuf>,
}

/// How a program ended, and everything it wrote.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The exit code; fails the test if the program was killed by a signal.
    #[track_caller]
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => panic!(
                "program was killed by signal {:?}\n{self:?}",
                self.status.signal()
            ),
        }
    }
}

impl Process {
    /// Starts `command` with piped stdin, stdout and stderr.
    #[track_caller]
    pub fn spawn(command: Command) -> Process {
        Process::spawn_inner(command, None, None)
    }

    /// Starts `command` with piped stdin and stderr and `stdout` as its
    /// standard output: a pipe the test closed or never reads, say, to show
    /// that a server's log never stops or kills it (see
    /// [`pipes`](crate::pipes)). The program's stdout is then not collected
    /// ([`Process::stdout`] stays empty), so the test chooses the server's
    /// port itself and waits with
    /// [`connect_when_listening`](crate::connect_when_listening).
    #[track_caller]
    pub fn spawn_with_stdout(command: Command, stdout: Stdio) -> Process {
        Process::spawn_inner(command, Some(stdout), None)
    }

    /// Starts `command` with piped stdin and stdout and `stderr` as its
    /// standard error, which is then not collected ([`Process::stderr`]
    /// stays empty): for a program that logs on stderr.
    #[track_caller]
    pub fn spawn_with_stderr(command: Command, stderr: Stdio) -> Process {
        Process::spawn_inner(command, None, Some(stderr))
    }

    #[track_caller]
    fn spawn_inner(
        mut command: Command,
        stdout: Option<Stdio>,
        stderr: Option<Stdio>,
    ) -> Process {
        // Make the test process a child subreaper (prctl(2)): a process whose
        // parent dies is handed to us instead of to init, so that Drop can
        // reap the whole group. Some containers' init never reaps orphans.
        static SUBREAPER: std::sync::Once = std::sync::Once::new();
        SUBREAPER.call_once(|| {
            let _ = nix::sys::prctl::set_child_subreaper(true);
        });
        let name = command.get_program().to_string_lossy().into_owned();
        let collect_stdout = stdout.is_none();
        let collect_stderr = stderr.is_none();
        command
            .stdin(Stdio::piped())
            .stdout(stdout.unwrap_or_else(Stdio::piped))
            .stderr(stderr.unwrap_or_else(Stdio::piped))
            // A group of its own, so that Drop can kill it with its children.
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only
        // calls prctl(2), which is async-signal-safe. It makes the kernel kill
        // the program if the test thread that started it dies without running
        // Drop (for example when the test binary itself is killed).
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => panic!("could not start {name}: {err}"),
        };
        let stdout = match child.stdout.take() {
            Some(pipe) if collect_stdout => Pipe::collect(pipe),
            _ => Arc::new(Pipe::default()),
        };
        let stderr = match child.stderr.take() {
            Some(pipe) if collect_stderr => Pipe::collect(pipe),
            _ => Arc::new(Pipe::default()),
        };
        let stdin = child.stdin.take();
        Process {
            name,
            child,
            stdin,
            stdout,
            stderr,
            read_upto: 0,
            remove_on_drop: None,
        }
    }

    /// Removes `folder` (a script the test wrote for the program, say) when
    /// the program is gone.
    pub(crate) fn remove_on_drop(&mut self, folder: &std::path::Path) {
        self.remove_on_drop = Some(folder.to_path_buf());
    }

    /// Runs `program` with `args` and `stdin` to completion (bounded by
    /// [`timeout()`]) and returns how it ended.
    #[track_caller]
    pub fn run<I, S>(
        program: impl AsRef<OsStr>,
        args: I,
        stdin: &[u8],
    ) -> Finished
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Process::run_with_env(program, args, &[], stdin)
    }

    /// Runs a command the test built (with a limit, say) to completion, with
    /// nothing on its stdin, and returns how it ended.
    #[track_caller]
    pub fn run_command(command: Command) -> Finished {
        let mut process = Process::spawn(command);
        process.close_stdin();
        process.finish()
    }

    /// [`Process::run`] with extra environment variables.
    #[track_caller]
    pub fn run_with_env<I, S>(
        program: impl AsRef<OsStr>,
        args: I,
        env: &[(&str, &str)],
        stdin: &[u8],
    ) -> Finished
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut process = Process::spawn(command(program, args, env));
        process.write_stdin(stdin);
        process.close_stdin();
        process.finish()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes to the program's stdin.
    #[track_caller]
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin was already closed");
        if let Err(err) = stdin.write_all(bytes).and_then(|()| stdin.flush()) {
            panic!(
                "could not write to {}'s stdin: {err}\nstderr: {}",
                self.name,
                self.stderr()
            );
        }
    }

    /// Closes stdin: the program reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line of stdout, without its newline. Fails the test if none
    /// comes within [`timeout()`].
    #[track_caller]
    pub fn next_line(&mut self) -> String {
        match self.next_line_within(timeout()) {
            Some(line) => line,
            None => {
                let waited = self.how_it_ended();
                panic!(
                    "{} printed no further line {waited}\nstdout so far: {:?}\nstderr: {}",
                    self.name,
                    self.stdout(),
                    self.stderr()
                )
            }
        }
    }

    /// The next line of stdout, or `None` if none is complete within `limit`
    /// (or stdout was closed).
    #[track_caller]
    pub fn next_line_within(&mut self, limit: Duration) -> Option<String> {
        let start = self.read_upto;
        let end = self.stdout.wait_for(limit, |bytes, _| {
            bytes[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|at| start + at)
        })?;
        self.read_upto = end + 1;
        let state = self.stdout.state.lock().unwrap_or_else(|e| e.into_inner());
        Some(String::from_utf8_lossy(&state.bytes[start..end]).into_owned())
    }

    /// Why a wait for output ended without it: the program exited (how),
    /// or the kit's timeout ran out.
    fn how_it_ended(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => format!("before it exited ({status})"),
            _ => crate::within_timeout(),
        }
    }

    /// Waits until stdout contains `text`; fails the test otherwise.
    #[track_caller]
    pub fn wait_for_stdout(&self, text: &str) {
        self.wait_for_text(&self.stdout, "stdout", text);
    }

    /// Waits until stderr contains `text`; fails the test otherwise.
    #[track_caller]
    pub fn wait_for_stderr(&self, text: &str) {
        self.wait_for_text(&self.stderr, "stderr", text);
    }

    #[track_caller]
    fn wait_for_text(&self, pipe: &Pipe, pipe_name: &str, text: &str) {
        let found = pipe.wait_for(timeout(), |bytes, _| {
            String::from_utf8_lossy(bytes).contains(text).then_some(())
        });
        if found.is_none() {
            let waited = if pipe.is_closed() {
                format!("before its {pipe_name} closed (it exited?)")
            } else {
                crate::within_timeout()
            };
            panic!(
                "{} did not print {text:?} to {pipe_name} {waited}\nstdout: {:?}\nstderr: {}",
                self.name,
                self.stdout(),
                self.stderr()
            );
        }
    }

    /// Everything written to stdout so far.
    #[track_caller]
    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// Everything written to stderr so far.
    #[track_caller]
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Sends `signal` to the program itself (not its group).
    #[track_caller]
    pub fn signal(&self, signal: Signal) {
        // The program may have exited already; that is not this call's business.
        let _ = kill(Pid::from_raw(self.pid() as i32), signal);
    }

    /// Whether the program has exited (without reaping it twice).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the program to exit by itself (bounded by [`timeout()`]),
    /// then for its output pipes to close, and returns how it ended.
    #[track_caller]
    pub fn finish(mut self) -> Finished {
        let status = self.wait_exit(timeout());
        // Output is complete once the pipes close. A daemon's descendants may
        // keep them open, so this wait is short and what we have is kept.
        let limit = Duration::from_millis(500);
        self.stdout
            .wait_for(limit, |_, closed| closed.then_some(()));
        self.stderr
            .wait_for(limit, |_, closed| closed.then_some(()));
        Finished {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    /// Waits up to `limit` for the program to exit; fails the test if it does not.
    #[track_caller]
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => panic!(
                    "{} did not exit within {limit:?}\nstdout: {:?}\nstderr: {}",
                    self.name,
                    self.stdout(),
                    self.stderr()
                ),
                Err(err) => panic!("could not wait for {}: {err}", self.name),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The group id is the program's pid (process_group(0) above).
        let group = Pid::from_raw(self.pid() as i32);
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
        // The program's own children were in its group and are dead too; as
        // orphans they became ours (see `spawn`). Reap them, so a test run
        // leaves not even a zombie behind.
        // Until ECHILD: none of the group is left.
        let members = Pid::from_raw(-group.as_raw());
        while let Ok(_) | Err(Errno::EINTR) = waitpid(members, None) {}
        if let Some(folder) = &self.remove_on_drop {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

/// A listing's server, started on `127.0.0.1:0` so tests never clash on a port.
pub struct Server {
    process: Process,
    addr: SocketAddr,
}

impl Server {
    /// Starts `program 127.0.0.1:0` and reads its `listening on <addr>` line.
    #[track_caller]
    pub fn start(program: impl AsRef<OsStr>) -> Server {
        Server::start_with(program, ["127.0.0.1:0"], &[])
    }

    /// Starts `program` with `args` and extra environment variables, and reads
    /// its `listening on <addr>` line.
    #[track_caller]
    pub fn start_with<I, S>(
        program: impl AsRef<OsStr>,
        args: I,
        env: &[(&str, &str)],
    ) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Server::from_process(Process::spawn(command(program, args, env)))
    }

    /// Wraps a started server process and reads its `listening on` line.
    #[track_caller]
    pub fn from_process(mut process: Process) -> Server {
        let Some(first) = process.next_line_within(timeout()) else {
            let waited = process.how_it_ended();
            panic!(
                "{} printed no `listening on` line {waited}\nstdout: {:?}\nstderr: {}",
                process.name,
                process.stdout(),
                process.stderr()
            );
        };
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok());
        let Some(addr) = addr else {
            panic!(
                "{}: the first line should be `listening on <addr>`, got \
                 {first:?}\nstderr: {}",
                process.name,
                process.stderr()
            );
        };
        Server { process, addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    #[track_caller]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    #[track_caller]
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Connects a new client (with timeouts) to the server.
    #[track_caller]
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// The process, for its output, signals and exit.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// The next line the server prints; fails the test if none comes.
    #[track_caller]
    pub fn next_line(&mut self) -> String {
        self.process.next_line()
    }

    /// Consumes the server, returning the process (for `finish`).
    pub fn into_process(self) -> Process {
        self.process
    }
}
