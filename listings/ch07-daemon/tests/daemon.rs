//! Listing 7-1 behaves as chapter 7 says: the launcher returns at once, and
//! what it leaves running has every property of a daemon, checked from /proc
//! and the file system.
//!
//! Every test runs the daemon with its own pid file and log, in a
//! `DaemonDir`, so tests run in parallel; the `DaemonDir` is made first and
//! dropped last, and kills the daemon even when the test fails.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, open};
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{Mode, umask};
use nix::sys::wait::WaitStatus;
use nix::unistd::{Pid, setsid};
use testkit::daemon::DaemonDir;
use testkit::{
    Client, Finished, Process, Server, Transcript, procfs, timeout, wait_until,
};

const DAEMON: &str = env!("CARGO_BIN_EXE_ch07-daemon");
const WELCOME: &[u8] = b"Welcome to My First Server...\n";

/// The daemon's options for this test's folder: its own pid file and log,
/// any free port.
fn args(dir: &DaemonDir) -> Vec<String> {
    vec![
        "--pid-file".to_string(),
        dir.pid_file().display().to_string(),
        "--log-file".to_string(),
        dir.log_file().display().to_string(),
        "127.0.0.1:0".to_string(),
    ]
}

/// Runs the launcher until it exits; returns the address it printed and
/// how it ended.
fn launch(command: Command) -> (SocketAddr, Finished) {
    let server = Server::from_process(Process::spawn(command));
    let addr = server.addr();
    (addr, server.into_process().finish())
}

fn daemon_command(dir: &DaemonDir) -> Command {
    let mut command = Command::new(DAEMON);
    command.args(args(dir));
    command
}

/// Launches a daemon for `dir`, checks that the launcher succeeded, and
/// returns the daemon's address and pid.
fn start_daemon(dir: &DaemonDir) -> (SocketAddr, u32) {
    let (addr, launcher) = launch(daemon_command(dir));
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    (addr, dir.daemon_pid())
}

/// What descriptor `fd` of `pid` is, for every descriptor it has open.
fn descriptors(pid: u32) -> BTreeMap<u32, PathBuf> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .flatten()
        .filter_map(|entry| {
            let fd = entry.file_name().to_str()?.parse().ok()?;
            Some((fd, procfs::fd_target(pid, fd)?))
        })
        .collect()
}

#[test]
fn the_launcher_returns_at_once_and_the_daemon_greets_every_caller() {
    let dir = DaemonDir::new();
    let started = Instant::now();
    let (addr, launcher) = launch(daemon_command(&dir));
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    assert!(started.elapsed() < timeout());
    // The launcher waits until the daemon is ready, so its pid file is
    // written by the time the launcher has exited.
    let pid = dir.daemon_pid();
    assert_eq!(
        launcher.stdout,
        format!(
            "listening on {addr}\nlogging to {}\ndaemon started with pid {pid}\n",
            dir.log_file().display()
        )
    );
    assert_eq!(launcher.stderr, "");

    let mut callers = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(addr);
        assert_eq!(client.read_to_end(), WELCOME);
        callers.push(format!("connection from {}\n", client.local_addr()));
    }
    assert_eq!(
        dir.log(),
        format!("started as pid {pid} on {addr}\n{}", callers.concat())
    );
}

#[test]
fn the_daemon_is_in_a_session_of_its_own_that_it_does_not_lead() {
    let dir = DaemonDir::new();
    let (_, pid) = start_daemon(&dir);
    let daemon = procfs::stat(pid).expect("the daemon runs");
    let test = procfs::stat(std::process::id()).expect("the test runs");

    assert_ne!(daemon.session, test.session, "setsid made a new session");
    assert_ne!(daemon.session, pid, "the second fork: not a session leader");
    assert_eq!(daemon.pgrp, daemon.session, "in the group setsid made");
    assert_eq!(daemon.tty_nr, 0, "no controlling terminal");
    // Its parents are gone: the launcher and the session leader exited,
    // and the daemon was adopted (by this test, a child subreaper).
    assert_eq!(daemon.ppid, std::process::id());
    let leader = procfs::stat(daemon.session);
    assert!(
        leader
            .as_ref()
            .is_none_or(|leader| leader.session != daemon.session),
        "the session leader has exited: {leader:?}"
    );
}

/// Starts the daemon with `args` the way a shell in a terminal does: as the
/// leader of a session whose controlling terminal is a new pseudo-terminal.
/// Its stdout and stderr go to `output`. Keep the returned master side open
/// while the test runs: closing it hangs the terminal up.
fn spawn_in_terminal(args: &[String], output: &Path) -> (PtyMaster, Child) {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .expect("open a pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let terminal =
        CString::new(ptsname_r(&master).expect("ptsname")).expect("a path");
    let output = File::create(output).expect("create the output file");

    let mut command = Command::new(DAEMON);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("dup"))
        .stderr(output);
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed (the test is multi-threaded). It
    // makes three system calls and allocates nothing: the terminal's path
    // was made before the fork.
    unsafe {
        command.pre_exec(move || {
            setsid()?;
            // A session leader without a terminal that opens one gets it as
            // its controlling terminal. The descriptor stays open, as a
            // shell's would, for the daemon to close.
            std::mem::forget(open(
                terminal.as_c_str(),
                OFlag::O_RDWR,
                Mode::empty(),
            )?);
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            Ok(())
        });
    }
    let child = command.spawn().expect("start the daemon");
    (master, child)
}

/// Waits, at most for the kit's timeout, for `child` to exit.
fn wait_child(child: &mut Child) -> ExitStatus {
    let mut status = None;
    let exited = wait_until(timeout(), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    assert!(exited, "the launcher did not exit");
    status.expect("exited")
}

#[test]
fn started_from_a_terminal_the_daemon_has_none() {
    let dir = DaemonDir::new();
    let output = dir.path().join("launcher.out");
    let (_terminal, mut launcher) = spawn_in_terminal(&args(&dir), &output);
    let status = wait_child(&mut launcher);
    assert!(
        status.success(),
        "{status:?}: {:?}",
        fs::read_to_string(&output)
    );
    let pid = dir.daemon_pid();
    let daemon = procfs::stat(pid).expect("the daemon runs");
    assert_eq!(daemon.tty_nr, 0, "the daemon has a controlling terminal");
    let terminals: Vec<_> = descriptors(pid)
        .into_values()
        .filter(|target| target.starts_with("/dev/pts"))
        .collect();
    assert!(terminals.is_empty(), "still open: {terminals:?}");
}

#[test]
fn in_the_foreground_it_keeps_its_terminal() {
    // The other side of the test above: the same start, with a terminal
    // the server keeps when it does not detach.
    let dir = DaemonDir::new();
    let output = dir.path().join("foreground.out");
    let mut args = args(&dir);
    args.insert(0, "--foreground".to_string());
    let (_terminal, mut server) = spawn_in_terminal(&args, &output);
    // Its log is stderr, here the output file: "started" comes once it
    // handles signals.
    let started = wait_until(timeout(), || {
        fs::read_to_string(&output)
            .is_ok_and(|text| text.contains("started as pid"))
    });
    assert!(started, "{:?}", fs::read_to_string(&output));
    let stat = procfs::stat(server.id()).expect("the server runs");
    assert_ne!(
        stat.tty_nr, 0,
        "the pseudo-terminal is its controlling terminal"
    );
    assert_eq!(stat.session, server.id(), "it leads its session");
    let _ = kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM);
    assert!(wait_child(&mut server).success());
}

#[test]
fn the_daemon_works_in_the_root_folder_with_its_own_umask() {
    let dir = DaemonDir::new();
    let mut command = daemon_command(&dir);
    // SAFETY: runs in the child before exec; umask is one system call,
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            umask(Mode::from_bits_truncate(0o077));
            Ok(())
        });
    }
    let (_, launcher) = launch(command);
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    let pid = dir.daemon_pid();
    assert_eq!(procfs::cwd(pid), Some(PathBuf::from("/")));
    assert_eq!(procfs::umask(pid), Some(0o022), "not the launcher's 077");
}

#[test]
fn only_its_socket_pid_file_and_log_stay_open_and_0_to_2_are_dev_null() {
    let dir = DaemonDir::new();
    // A descriptor the launcher inherits, as from a careless parent.
    let inherited = File::create(dir.path().join("inherited")).expect("create");
    let inherited_fd = inherited.as_raw_fd();
    let mut command = daemon_command(&dir);
    // SAFETY: runs in the child before exec, where `inherited` is still
    // open; fcntl is one system call, async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(inherited_fd);
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
            Ok(())
        });
    }
    let (_, launcher) = launch(command);
    assert_eq!(launcher.code(), 0, "{launcher:?}");

    let open = descriptors(dir.daemon_pid());
    for fd in 0..3 {
        assert_eq!(open.get(&fd), Some(&PathBuf::from("/dev/null")), "fd {fd}");
    }
    let mut others: Vec<String> = open
        .range(3..)
        .map(|(_, target)| target.display().to_string())
        .collect();
    others.sort();
    assert_eq!(others.len(), 3, "{others:?}");
    assert_eq!(others[0], dir.log_file().display().to_string());
    assert_eq!(others[1], dir.pid_file().display().to_string());
    assert!(others[2].starts_with("socket:["), "{others:?}");
}

#[test]
fn a_second_launch_fails_cleanly_while_the_first_daemon_runs() {
    let dir = DaemonDir::new();
    let (addr, pid) = start_daemon(&dir);
    assert_eq!(
        fs::read_to_string(dir.pid_file()).ok(),
        Some(format!("{pid}\n"))
    );

    let second = Process::run(DAEMON, args(&dir), b"");
    assert_eq!(second.code(), 1);
    assert_eq!(second.stdout, "");
    assert_eq!(
        second.stderr,
        format!(
            "could not lock {}: ch07-daemon is already running as pid {pid}\n",
            dir.pid_file().display()
        )
    );
    Transcript::new("transcripts/already-running.console")
        .command("cargo run -p ch07-daemon -- 127.0.0.1:8081")
        .output(&second.stderr.replace(
            &dir.pid_file().display().to_string(),
            "/tmp/ch07-daemon.pid",
        ))
        .check();

    // The first daemon is untouched, and alone.
    assert_eq!(dir.daemon_pid(), pid);
    assert_eq!(dir.processes(), [pid]);
    assert_eq!(Client::connect(addr).read_to_end(), WELCOME);
}

#[test]
fn sigterm_stops_the_daemon_and_removes_its_pid_file() {
    let dir = DaemonDir::new();
    let (addr, pid) = start_daemon(&dir);
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("kill");
    let status = dir.wait_exit(pid, timeout());
    assert_eq!(status, WaitStatus::Exited(Pid::from_raw(pid as i32), 0));
    assert!(!dir.pid_file().exists(), "the pid file is left behind");
    assert!(dir.log().ends_with("stopped by SIGTERM\n"), "{}", dir.log());
    assert!(Client::try_connect(addr).is_err(), "someone still listens");
}

#[test]
fn a_pid_file_left_by_a_killed_daemon_does_not_stop_a_new_one() {
    let dir = DaemonDir::new();
    let (_, first) = start_daemon(&dir);
    // SIGKILL cannot be caught: the daemon has no chance to clean up, and
    // its pid file stays. Its lock goes with it.
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).expect("kill");
    dir.wait_exit(first, timeout());
    assert_eq!(dir.try_daemon_pid(), Some(first), "the stale pid file");

    let (addr, second) = start_daemon(&dir);
    assert_ne!(second, first);
    assert_eq!(Client::connect(addr).read_to_end(), WELCOME);
}

#[test]
fn a_bind_error_reaches_the_terminal_and_no_daemon_starts() {
    let dir = DaemonDir::new();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("local_addr").to_string();
    let mut args = args(&dir);
    *args.last_mut().expect("the address") = addr.clone();

    let run = Process::run(DAEMON, &args, b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not bind {addr}: Address already in use (os error 98)\n"
        )
    );
    assert!(dir.processes().is_empty(), "a daemon started anyway");
    assert!(!dir.pid_file().exists());
}

#[test]
fn a_log_that_cannot_be_opened_is_reported_before_detaching() {
    let dir = DaemonDir::new();
    let log = dir.path().join("no-such-folder").join("daemon.log");
    let mut args = args(&dir);
    args[3] = log.display().to_string();

    let run = Process::run(DAEMON, &args, b"");
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not open {}: No such file or directory (os error 2)\n",
            log.display()
        )
    );
    assert!(dir.processes().is_empty(), "a daemon started anyway");
}

#[test]
fn relative_paths_mean_the_folder_it_was_started_in() {
    let dir = DaemonDir::new();
    let mut command = Command::new(DAEMON);
    command
        .current_dir(dir.path())
        .args(["--pid-file", "daemon.pid", "--log-file"])
        .arg(dir.log_file())
        .arg("127.0.0.1:0");
    let (_, launcher) = launch(command);
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    // Written in dir, although the daemon works in `/`.
    let pid = dir.daemon_pid();
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("kill");
    dir.wait_exit(pid, timeout());
    assert!(!dir.pid_file().exists(), "removed from dir too");
}

#[test]
fn in_the_foreground_it_logs_to_stderr_and_stops_on_ctrl_c() {
    let dir = DaemonDir::new();
    let mut args = args(&dir);
    args.insert(0, "--foreground".to_string());
    let mut server = Server::start_with(DAEMON, &args, &[]);
    // Not detached: the pid file names the process we started.
    assert!(wait_until(timeout(), || dir.try_daemon_pid().is_some()));
    assert_eq!(dir.daemon_pid(), server.pid());

    let mut client = server.connect();
    assert_eq!(client.read_to_end(), WELCOME);
    let process = server.process();
    process
        .wait_for_stderr(&format!("connection from {}\n", client.local_addr()));
    process.signal(Signal::SIGINT);
    assert!(process.wait_exit(timeout()).success());
    assert!(process.stderr().ends_with("stopped by SIGINT\n"));
    assert!(!dir.pid_file().exists());
    assert_eq!(dir.log(), "", "in the foreground, the log is stderr");
}

#[test]
fn the_daemon_sleeps_while_nobody_calls() {
    let dir = DaemonDir::new();
    let (_, pid) = start_daemon(&dir);
    let used = procfs::cpu_used_during(pid, Duration::from_millis(500));
    assert!(used < Duration::from_millis(50), "used {used:?} of CPU");
}

#[test]
fn bad_arguments_print_usage() {
    let usage = "usage: ch07-daemon [--foreground] [--pid-file PATH] [--log-file PATH] [ADDR]\n";
    for args in [
        vec!["--help"],
        vec!["127.0.0.1:0", "extra"],
        vec!["--pid-file"],
    ] {
        let run = Process::run(DAEMON, &args, b"");
        assert_eq!(run.code(), 2, "{args:?}");
        assert_eq!(run.stderr, usage);
    }
}

#[test]
fn session_matches_the_book() {
    let dir = DaemonDir::new();
    let (addr, launcher) = launch(daemon_command(&dir));
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    let pid = dir.daemon_pid();

    let client = Process::run(
        testkit::bin("ch01-hello-client"),
        [addr.to_string()],
        b"",
    );
    assert_eq!(client.code(), 0, "{client:?}");
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("kill");
    dir.wait_exit(pid, timeout());

    // The test's files are in its own folder; the book shows the defaults.
    let shown = |text: &str| {
        text.replace(
            &dir.log_file().display().to_string(),
            "/tmp/ch07-daemon.log",
        )
    };
    Transcript::new("transcripts/session.console")
        .command("cargo run -p ch07-daemon")
        .output(&shown(&launcher.stdout))
        .command("cargo run -p ch01-hello-client -- 127.0.0.1:8080")
        .output(&client.stdout)
        .command("kill $(cat /tmp/ch07-daemon.pid)")
        .command("cat /tmp/ch07-daemon.log")
        .output(&dir.log())
        .show_port(addr.port(), 8080)
        .check();
}
