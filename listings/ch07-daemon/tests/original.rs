//! The original's daemon (`original/php/19-daemon.php`), run with the PHP
//! command-line interpreter: what chapter 7 says of it.
//!
//! The daemon leaves the test's process group and session, so every test
//! writes the script into a `DaemonDir`, made first and dropped last: its
//! guard finds the PHP processes by the script's path on their command line
//! and kills them, even when the test fails. It also makes this test process
//! a child subreaper, so that the daemon, once its parents have exited, is
//! adopted by the test and can be reaped here. Its watchdog kills the
//! daemons even if the test binary itself is killed.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, open};
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, umask};
use nix::sys::wait::WaitStatus;
use nix::unistd::{Pid, dup2_stderr, dup2_stdin, dup2_stdout, setsid};
use testkit::daemon::DaemonDir;
use testkit::php::{Original, Php, php};
use testkit::{
    Client, Process, Transcript, kernel, procfs, timeout, unused_port,
    wait_until,
};

/// The original's daemon, on loopback and `port` instead of 0.0.0.0:8080.
fn original_daemon(port: u16) -> Original {
    Original::of(&["19-daemon"])
        .edit("\"0.0.0.0\"", "\"127.0.0.1\"", 1)
        .edit("\"8080\"", &format!("\"{port}\""), 1)
}

const WELCOME: &[u8] = b"Welcome to My First Server...";

/// The script's place in the test's folder: the folder's guard finds the
/// PHP processes by it.
fn script(dir: &DaemonDir) -> PathBuf {
    dir.path().join("daemon.php")
}

/// One test reaps a daemon it cannot name in advance: the zombie that the
/// daemon leaves when it exits. It takes this lock for writing, the others
/// for reading, so that no other test's daemon can be a zombie at the time.
static DAEMONS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    DAEMONS.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    DAEMONS.write().unwrap_or_else(|e| e.into_inner())
}

/// Waits until the only PHP process left for `dir` is the daemon (its
/// launcher and first child have exited) and returns its pid.
fn the_daemon(dir: &DaemonDir) -> u32 {
    let mut found = Vec::new();
    let alone = wait_until(timeout(), || {
        found = dir.processes();
        found.len() == 1
    });
    assert!(alone, "expected the daemon alone, found {found:?}");
    found[0]
}

/// Backs ch07-daemons.md#wrong-daemon-binds-after-detaching: the daemon
/// creates and binds its socket only after it has detached, in a process
/// nobody waits for. The launcher exits with status 0 whether the bind
/// worked or not, and so does the daemon, after a message that cannot say
/// why: `socket_strerror()` of `false` is "Success".
#[test]
fn with_its_port_taken_the_original_daemon_exits_0_and_says_success() {
    let _one_at_a_time = exclusive();
    let Some(php) = php() else { return };
    let dir = DaemonDir::new();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("local_addr").port();

    let mut launcher = php.spawn_at(&original_daemon(port), &script(&dir));
    assert_eq!(launcher.wait_exit(timeout()).code(), Some(0));
    launcher.wait_for_stdout("failed to bind socket:Success\n");
    // PHP's warning, written just before, on the other pipe.
    launcher.wait_for_stderr(" on line 14\n");

    // The process that failed: a child of no one but this test (it was
    // adopted when its parent exited), in a session of its own that it does
    // not lead. It exited with `exit()`, status 0.
    let me = procfs::stat(std::process::id()).expect("this test runs");
    let mut daemon = None;
    let exited = wait_until(timeout(), || {
        daemon = procfs::zombie_children(me.pid)
            .into_iter()
            .find(|child| child.comm == "php" && child.session != me.session);
        daemon.is_some()
    });
    assert!(exited, "no daemon exited");
    let daemon = daemon.expect("found");
    assert_ne!(daemon.session, daemon.pid, "the daemon leads no session");
    assert_eq!(
        dir.wait_exit(daemon.pid, timeout()),
        WaitStatus::Exited(Pid::from_raw(daemon.pid as i32), 0)
    );

    assert_eq!(launcher.stdout(), "failed to bind socket:Success\n");
    let warning = "PHP Warning:  socket_bind(): Unable to bind address [98]: \
                   Address already in use in";
    assert_eq!(
        launcher.stderr(),
        format!("{warning} {} on line 14\n", script(&dir).display())
    );
    assert_eq!(kernel::listening_sockets(port), 1, "only the test's socket");

    // The shell shows PHP's warning first: it comes from inside socket_bind.
    let shown = |text: &str| {
        text.replace(
            &script(&dir).display().to_string(),
            "/home/you/daemon.php",
        )
    };
    Transcript::new("transcripts/original-port-taken.console")
        .command("php daemon.php")
        .output(&shown(&launcher.stderr()))
        .output(&launcher.stdout())
        .command("echo $?")
        .output("0\n")
        .show_port(port, 8080)
        .check();
}

/// Backs ch07-daemons.md#wrong-daemon-binds-after-detaching: every message
/// of the original's daemon passes `socket_strerror()` the `false` that a
/// failed call returned, and PHP takes it for error number 0.
#[test]
fn socket_strerror_of_false_is_success() {
    let Some(php) = php() else { return };
    let run = php.eval("echo socket_strerror(false), '|', socket_strerror(0);");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "Success|Success");
    assert_eq!(run.stderr, "");
}

/// Backs ch07-daemons.md#wrong-daemon-binds-after-detaching: when the port
/// is free, the listening socket belongs to the daemon, a process in a new
/// session that it does not lead, adopted once its parents exited; the
/// launcher, which waited for its first child (and so left no zombie), has
/// exited with status 0. Our hello client of chapter 1 reads the daemon's
/// welcome, which ends without a newline.
#[test]
fn the_original_daemon_binds_after_detaching_and_greets_our_client() {
    let _shared = shared();
    let Some(php) = php() else { return };
    let dir = DaemonDir::new();
    let port = unused_port();

    let mut launcher = php.spawn_at(&original_daemon(port), &script(&dir));
    assert_eq!(launcher.wait_exit(timeout()).code(), Some(0));
    // Printed by the daemon, into the launcher's stdout, which it kept.
    launcher.wait_for_stdout("waiting for clients to connect\n");

    let pid = the_daemon(&dir);
    let daemon = procfs::stat(pid).expect("the daemon runs");
    let test = procfs::stat(std::process::id()).expect("this test runs");
    assert_ne!(daemon.session, test.session, "setsid made a new session");
    assert_ne!(daemon.session, pid, "the second fork: it leads no session");
    assert_eq!(daemon.pgrp, daemon.session);
    assert_eq!(daemon.ppid, test.pid, "adopted: its parents have exited");
    // The first child, which led the session, was reaped by the launcher's
    // pcntl_wait: not even a zombie of it is left.
    assert!(!procfs::exists(daemon.session), "the first child lingers");
    assert_eq!(kernel::listening_sockets(port), 1);
    let sockets = (0..64)
        .filter_map(|fd| procfs::fd_target(pid, fd))
        .filter(|target| target.to_string_lossy().starts_with("socket:["))
        .count();
    assert_eq!(sockets, 1, "the daemon holds the listening socket");

    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    assert_eq!(client.read_to_end(), WELCOME);
    let hello = Process::run(
        testkit::bin("ch01-hello-client"),
        [format!("127.0.0.1:{port}")],
        b"",
    );
    assert_eq!(hello.code(), 0, "{hello:?}");
    assert_eq!(hello.stdout.as_bytes(), WELCOME);

    Transcript::new("transcripts/original-session.console")
        .command("php daemon.php")
        .output(&launcher.stdout())
        .command("cargo run -p ch01-hello-client -- 127.0.0.1:8080")
        .output(&hello.stdout)
        .show_port(port, 8080)
        .check();
}

/// Backs ch07-daemons.md#wrong-daemon-binds-after-detaching: the daemon
/// keeps the umask, the working folder and the descriptors of whatever
/// started it, its stdout included, and writes no pid file.
#[test]
fn the_original_daemon_keeps_what_it_inherited() {
    let _shared = shared();
    let Some(php) = php() else { return };
    let dir = DaemonDir::new();
    let port = unused_port();
    fs::write(script(&dir), original_daemon(port).source())
        .expect("write the script");
    // A descriptor the launcher inherits, as from a careless parent.
    let inherited = File::create(dir.path().join("inherited")).expect("create");
    let inherited_fd = inherited.as_raw_fd();

    let mut command = php.command(&script(&dir));
    // SAFETY: runs in the child before exec, where only async-signal-safe
    // calls are allowed; umask and fcntl are one system call each.
    unsafe {
        command.pre_exec(move || {
            umask(Mode::from_bits_truncate(0o077));
            let fd = BorrowedFd::borrow_raw(inherited_fd);
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
            Ok(())
        });
    }
    let mut launcher = Process::spawn(command);
    assert_eq!(launcher.wait_exit(timeout()).code(), Some(0));
    launcher.wait_for_stdout("waiting for clients to connect\n");
    let pid = the_daemon(&dir);

    assert_eq!(procfs::umask(pid), Some(0o077), "the launcher's umask");
    assert_eq!(procfs::cwd(pid), Some(dir.path().to_path_buf()));
    let inherited_path = dir.path().join("inherited");
    assert_eq!(
        procfs::fd_target(pid, inherited_fd as u32),
        Some(inherited_path)
    );
    for fd in 0..3 {
        let target = procfs::fd_target(pid, fd).expect("open");
        assert!(
            target.to_string_lossy().starts_with("pipe:["),
            "fd {fd} is {target:?}, not the launcher's pipe"
        );
    }
    let mut files: Vec<String> = fs::read_dir(dir.path())
        .expect("read the folder")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["daemon.php", "inherited"], "no pid file, no log");
}

/// Starts `script` the way a shell in a terminal does: as the leader of a
/// session whose controlling terminal is a new pseudo-terminal, which is
/// also its stdin, stdout and stderr. Keep the returned master side open
/// while the test runs: closing it hangs the terminal up.
fn spawn_in_terminal(
    php: &Php,
    script: &Path,
) -> (PtyMaster, std::process::Child) {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .expect("open a pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let terminal =
        CString::new(ptsname_r(&master).expect("ptsname")).expect("a path");
    let mut command = php.command(script);
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed (the test is multi-threaded). It
    // makes a few system calls and allocates nothing: the terminal's path
    // was made before the fork.
    unsafe {
        command.pre_exec(move || {
            setsid()?;
            // A session leader without a terminal that opens one gets it as
            // its controlling terminal.
            let tty = open(terminal.as_c_str(), OFlag::O_RDWR, Mode::empty())?;
            dup2_stdin(&tty)?;
            dup2_stdout(&tty)?;
            dup2_stderr(&tty)?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            Ok(())
        });
    }
    let child = command.spawn().expect("start php");
    (master, child)
}

/// Backs ch07-daemons.md#wrong-setsid-and-the-terminal and
/// ch07-daemons.md#wrong-daemon-binds-after-detaching: started from a
/// terminal, the daemon has no controlling terminal (setsid left it without
/// one; the terminal no longer controls it), yet it writes into that
/// terminal, which it keeps as its stdin, stdout and stderr. Hanging the
/// terminal up does not stop it, as the original says.
#[test]
fn started_from_a_terminal_the_original_daemon_writes_into_it_without_owning_it()
 {
    let _shared = shared();
    let Some(php) = php() else { return };
    let dir = DaemonDir::new();
    let port = unused_port();
    fs::write(script(&dir), original_daemon(port).source())
        .expect("write the script");
    let (mut master, mut launcher) = spawn_in_terminal(&php, &script(&dir));
    let terminal = PathBuf::from(ptsname_r(&master).expect("ptsname"));
    let mut launched = None;
    let exited = wait_until(timeout(), || {
        launched = launcher.try_wait().expect("try_wait");
        launched.is_some()
    });
    assert!(exited, "the launcher did not exit");
    assert_eq!(launched.and_then(|status| status.code()), Some(0));

    let pid = the_daemon(&dir);
    let daemon = procfs::stat(pid).expect("the daemon runs");
    assert_eq!(daemon.tty_nr, 0, "the daemon has a controlling terminal");
    for fd in 0..3 {
        assert_eq!(
            procfs::fd_target(pid, fd).as_ref(),
            Some(&terminal),
            "fd {fd}"
        );
    }

    // What the terminal shows (it turns "\n" into "\r\n").
    fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("non-blocking");
    let mut shown = Vec::new();
    let printed = wait_until(timeout(), || {
        let mut chunk = [0u8; 256];
        match master.read(&mut chunk) {
            Ok(n) => shown.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => panic!("read the terminal: {err}"),
        }
        shown.ends_with(b"waiting for clients to connect\r\n")
    });
    assert!(printed, "the terminal shows {shown:?}");

    // Hang the terminal up: the daemon is not in its session, and goes on.
    drop(master);
    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    assert_eq!(client.read_to_end(), WELCOME);
    assert!(procfs::exists(pid));
}

/// A seccomp filter that makes every fork of this process and its children
/// fail with EAGAIN, as when the system is out of processes (see
/// seccomp(2)). Built before the fork: installing it is two system calls.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod no_fork {
    use std::ffi::{c_int, c_ulong};

    #[repr(C)]
    pub struct SockFilter {
        code: u16,
        jt: u8,
        jf: u8,
        k: u32,
    }

    #[repr(C)]
    pub struct SockFprog {
        len: u16,
        filter: *const SockFilter,
    }

    unsafe extern "C" {
        fn prctl(option: c_int, ...) -> c_int;
    }

    const LOAD_WORD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JUMP_IF_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RETURN: u16 = 0x06; // BPF_RET | BPF_K
    const ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
    const FAIL_WITH_EAGAIN: u32 = 0x0005_0000 | 11; // SECCOMP_RET_ERRNO | EAGAIN

    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "x86_64")]
    const FORKS: [u32; 4] = [56, 435, 57, 58]; // clone, clone3, fork, vfork
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    #[cfg(target_arch = "aarch64")]
    const FORKS: [u32; 4] = [220, 435, 220, 220]; // clone, clone3

    fn op(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    /// The filter's instructions: the architecture must be ours, and each
    /// way to fork returns EAGAIN; everything else is allowed.
    pub fn filter() -> Vec<SockFilter> {
        vec![
            op(LOAD_WORD, 0, 0, 4), // seccomp_data.arch
            op(JUMP_IF_EQUAL, 0, 5, ARCH),
            op(LOAD_WORD, 0, 0, 0), // seccomp_data.nr
            op(JUMP_IF_EQUAL, 4, 0, FORKS[0]),
            op(JUMP_IF_EQUAL, 3, 0, FORKS[1]),
            op(JUMP_IF_EQUAL, 2, 0, FORKS[2]),
            op(JUMP_IF_EQUAL, 1, 0, FORKS[3]),
            op(RETURN, 0, 0, ALLOW),
            op(RETURN, 0, 0, FAIL_WITH_EAGAIN),
        ]
    }

    /// Installs `filter` in the calling process (the kernel copies it):
    /// two system calls, async-signal-safe.
    pub fn install(filter: &[SockFilter]) -> std::io::Result<()> {
        nix::sys::prctl::set_no_new_privs()?;
        let program = SockFprog {
            len: filter.len() as u16,
            filter: filter.as_ptr(),
        };
        const PR_SET_SECCOMP: c_int = 22;
        const SECCOMP_MODE_FILTER: c_ulong = 2;
        // SAFETY: the arguments are what prctl(2) documents for
        // PR_SET_SECCOMP, and `program` points to a filter that outlives the
        // call.
        let done =
            unsafe { prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) };
        if done == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// Backs ch07-daemons.md#wrong-daemon-binds-after-detaching: the original
/// never checks whether `pcntl_fork` failed. When it does, the launcher
/// takes the failure for the parent's side, waits for a child it does not
/// have, and exits with status 0; no daemon runs, and only PHP's warning
/// says so.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn when_fork_fails_the_original_daemon_still_exits_0() {
    let _shared = shared();
    let Some(php) = php() else { return };
    let dir = DaemonDir::new();
    let port = unused_port();
    fs::write(script(&dir), original_daemon(port).source())
        .expect("write the script");
    let filter = no_fork::filter();
    let mut command = php.command(&script(&dir));
    // SAFETY: runs in the child before exec; installing the filter is two
    // prctl calls, async-signal-safe, and the filter was built before the
    // fork and lives in the child's copy of this memory.
    unsafe {
        command.pre_exec(move || no_fork::install(&filter));
    }
    let launcher = Process::spawn(command).finish();
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    assert_eq!(launcher.stdout, "");
    // Error 11 is EAGAIN (PHP 8.3 and later add what it means); line 42
    // is the first fork's.
    let warning = &launcher.stderr;
    assert!(
        warning.starts_with("PHP Warning:  pcntl_fork(): Error 11")
            && warning.ends_with(&format!(
                " in {} on line 42\n",
                script(&dir).display()
            ))
            && warning.lines().count() == 1,
        "{warning:?}"
    );
    assert!(dir.processes().is_empty(), "a daemon runs");
    assert_eq!(kernel::listening_sockets(port), 0);
}
