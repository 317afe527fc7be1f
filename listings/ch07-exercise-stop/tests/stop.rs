//! The checks for exercise 7-2. They run the real daemon of Listing 7-1 and
//! fail until the tool stops it, and only it.

use std::fs::{self, File};
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use testkit::daemon::DaemonDir;
use testkit::{Process, Server, conventions, procfs};

const STOP: &str = env!("CARGO_BIN_EXE_ch07-exercise-stop");

/// Starts the daemon of Listing 7-1 with the folder's pid file and log, and
/// returns its pid.
fn start_daemon(dir: &DaemonDir) -> u32 {
    let mut command = Command::new(testkit::bin("ch07-daemon"));
    command
        .arg("--pid-file")
        .arg(dir.pid_file())
        .arg("--log-file")
        .arg(dir.log_file())
        .arg("127.0.0.1:0");
    let launcher = Server::from_process(Process::spawn(command))
        .into_process()
        .finish();
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    dir.daemon_pid()
}

fn stop(dir: &DaemonDir) -> testkit::Finished {
    Process::run(
        STOP,
        ["--pid-file".as_ref(), dir.pid_file().as_os_str()],
        b"",
    )
}

#[test]
fn stops_a_running_daemon_and_returns_once_it_has_exited() {
    let dir = DaemonDir::new();
    let pid = start_daemon(&dir);
    let run = stop(&dir);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, format!("stopped pid {pid}\n"));
    // Gone already (a zombie, at most, until this test reaps it), and it
    // had the time to clean up after itself.
    assert!(
        procfs::stat(pid).is_none_or(|daemon| daemon.state == 'Z'),
        "pid {pid} is still running"
    );
    assert!(!dir.pid_file().exists());
    assert!(dir.log().ends_with("stopped by SIGTERM\n"), "{}", dir.log());
}

#[test]
fn a_stale_pid_file_never_gets_anyone_killed() {
    let dir = DaemonDir::new();
    // Some innocent process, whose pid a dead daemon's pid file names.
    let mut innocent = Process::spawn(Command::new("cat"));
    fs::write(dir.pid_file(), format!("{}\n", innocent.pid())).expect("write");

    let run = stop(&dir);
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "could not stop pid {}: nothing holds {} locked\n",
            innocent.pid(),
            dir.pid_file().display()
        )
    );
    // The tool has exited: any signal it sent is delivered or pending now.
    assert_untouched(innocent.pid());
    assert!(!innocent.has_exited());
}

#[test]
fn a_pid_file_locked_by_another_process_gets_nobody_killed() {
    // The lock is held, but not by the process the file names: someone
    // else holds it (here the test), and the pid is an innocent's.
    let dir = DaemonDir::new();
    let mut innocent = Process::spawn(Command::new("cat"));
    let _held = lock_pid_file(&dir, &format!("{}\n", innocent.pid()));

    let run = stop(&dir);
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "could not stop pid {}: it does not have {} open, as the daemon \
             would\n",
            innocent.pid(),
            dir.pid_file().display()
        )
    );
    assert_untouched(innocent.pid());
    assert!(!innocent.has_exited());
}

#[test]
fn by_default_it_reads_the_daemons_default_pid_file() {
    // Listing 7-1's default: ch07-daemon.pid in the user's runtime folder.
    let dir = DaemonDir::new();
    let mut command = Command::new(STOP);
    command.env("XDG_RUNTIME_DIR", dir.path());
    let run = Process::run_command(command);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not open {}: No such file or directory (os error 2)\n",
            dir.path().join("ch07-daemon.pid").display()
        )
    );
}

/// Fails the test unless `pid` is alive and no signal has reached it: it
/// is neither stopped nor a zombie, and no signal waits to be delivered to
/// it (a signal that kills it shows as pending until it is dead). SIGCHLD,
/// which a shell gets when the tool it ran exits, does not count.
fn assert_untouched(pid: u32) {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("process {pid} is gone: {err}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    let state = field("State:");
    assert!(
        state.starts_with('S') || state.starts_with('R'),
        "process {pid} is not running or asleep: {state}"
    );
    // A mask in hexadecimal, bit n - 1 for signal n.
    let sigchld = 1 << (Signal::SIGCHLD as u32 - 1);
    for pending in ["SigPnd:", "ShdPnd:"] {
        let signals = u64::from_str_radix(&field(pending), 16)
            .unwrap_or_else(|err| panic!("{pending} of {pid}: {err}"));
        assert_eq!(
            signals & !sigchld,
            0,
            "process {pid} has signals pending ({pending} {signals:x})"
        );
    }
}

/// Locks `dir`'s pid file as a running daemon does, after writing `text`
/// into it: the tool then believes that a daemon holds it.
fn lock_pid_file(dir: &DaemonDir, text: &str) -> Flock<File> {
    fs::write(dir.pid_file(), text).expect("write the pid file");
    let file = File::open(dir.pid_file()).expect("open the pid file");
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .unwrap_or_else(|(_, errno)| panic!("lock the pid file: {errno}"))
}

/// The error for a pid file that holds no process id.
fn no_pid(dir: &DaemonDir, text: &str) -> String {
    format!("{} holds no pid: {text:?}\n", dir.pid_file().display())
}

/// Runs the tool from a shell, as `"$0" --pid-file "$1"` in
/// `sh -c SCRIPT ch07-exercise-stop PID_FILE`, itself run by `wrapper`
/// (a command that runs its arguments, or nothing; if it is `unshare`, the
/// script checks that it runs in a new PID namespace before anything
/// else). The shell and all it
/// starts are in a process group of their own. The script first starts an
/// innocent `sleep` in that group and prints its pid, then runs the tool
/// and prints its exit status, then waits. Returns the script's process,
/// the innocent's pid, and the status line if one came.
fn run_in_a_group(
    wrapper: &[&str],
    dir: &DaemonDir,
) -> (Process, u32, Option<String>) {
    let guard = match wrapper {
        [] => "",
        _ => "test $$ = 1 || exit\n",
    };
    let script = guard.to_string()
        + "sleep 1000 </dev/null >/dev/null 2>&1 &
        echo $!
        \"$0\" --pid-file \"$1\"
        echo \"exit status $?\"
        exec cat";
    let mut command = match wrapper {
        [program, args @ ..] => {
            let mut command = Command::new(program);
            command.args(args).arg("sh");
            command
        }
        [] => Command::new("sh"),
    };
    command.args(["-c", &script, STOP]).arg(dir.pid_file());
    let mut shell = Process::spawn(command);
    let innocent = shell.next_line().parse().expect("the innocent's pid");
    let status = shell.next_line_within(testkit::timeout());
    (shell, innocent, status)
}

/// How to run a command in a PID namespace of its own, as the root of a
/// user namespace of its own (so that it needs no privilege), or why this
/// machine cannot.
const IN_A_PID_NAMESPACE: [&str; 5] =
    ["unshare", "--user", "--map-root-user", "--pid", "--fork"];

fn pid_namespaces_work() -> Result<(), String> {
    // The namespace's first process has pid 1 there.
    let probe = Command::new(IN_A_PID_NAMESPACE[0])
        .args(&IN_A_PID_NAMESPACE[1..])
        .args(["sh", "-c", "test $$ = 1"])
        .output()
        .map_err(|err| format!("could not run unshare: {err}"))?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&probe.stderr).trim().to_string())
    }
}

#[test]
fn a_pid_of_0_signals_nobody() {
    // kill(0, sig) signals every process in the caller's process group:
    // here the shell that started the tool and an innocent `sleep`.
    let dir = DaemonDir::new();
    let _held = lock_pid_file(&dir, "0\n");
    let (shell, innocent, status) = run_in_a_group(&[], &dir);
    assert_eq!(
        status.as_deref(),
        Some("exit status 1"),
        "{}",
        shell.stderr()
    );
    shell.wait_for_stderr(&no_pid(&dir, "0\n"));
    assert_eq!(shell.stderr(), no_pid(&dir, "0\n"));
    assert_untouched(innocent);
    assert_untouched(shell.pid());
}

#[test]
fn a_negative_pid_signals_no_process_group() {
    // kill(-n, sig) signals every process in process group n.
    let dir = DaemonDir::new();
    let mut innocent = Process::spawn(Command::new("cat"));
    let text = format!("-{}\n", innocent.pid());
    let _held = lock_pid_file(&dir, &text);
    let run = stop(&dir);
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(run.stderr, no_pid(&dir, &text));
    assert_untouched(innocent.pid());
    assert!(!innocent.has_exited());
}

#[test]
fn a_pid_of_minus_1_signals_nobody() {
    // kill(-1, sig) signals every process the caller may signal: all of
    // the user's, all of the machine's for root. The tool runs in a PID
    // namespace of its own (unshare), where that is only the processes the
    // test started in it, should it get this wrong.
    if let Err(why) = pid_namespaces_work() {
        testkit::skip(&format!("cannot make a PID namespace here: {why}"));
        return;
    }
    let dir = DaemonDir::new();
    let _held = lock_pid_file(&dir, "-1\n");
    let (shell, _, status) = run_in_a_group(&IN_A_PID_NAMESPACE, &dir);
    assert_eq!(
        status.as_deref(),
        Some("exit status 1"),
        "{}",
        shell.stderr()
    );
    shell.wait_for_stderr(&no_pid(&dir, "-1\n"));
    assert_eq!(shell.stderr(), no_pid(&dir, "-1\n"));
    // The pid the script printed is the innocent's pid inside the
    // namespace; outside it has another. It is the `sleep` child of the
    // namespace's first process, the shell, which unshare started.
    let namespace_init = procfs::children(shell.pid());
    assert_eq!(namespace_init.len(), 1, "{namespace_init:?}");
    assert_untouched(namespace_init[0].pid);
    let sleeps: Vec<u32> = procfs::children(namespace_init[0].pid)
        .into_iter()
        .filter(|child| child.comm == "sleep")
        .map(|child| child.pid)
        .collect();
    assert_eq!(sleeps.len(), 1, "the innocent sleep is gone");
    assert_untouched(sleeps[0]);
}

#[test]
fn a_missing_pid_file_is_reported_in_one_line() {
    let dir = DaemonDir::new();
    let run = stop(&dir);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not open {}: No such file or directory (os error 2)\n",
            dir.pid_file().display()
        )
    );
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        STOP,
        &[&["--pid-file"], &["/tmp/x.pid"], &["--pid-file", "a", "b"]],
        "usage: ch07-exercise-stop [--pid-file PATH]",
    );
}
