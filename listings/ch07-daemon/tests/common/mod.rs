//! What every test of chapter 7 that starts a daemon shares: a `DaemonDir`
//! that also cleans up when the test binary itself is killed.
//!
//! A `DaemonDir` kills the test's daemons when it is dropped. `SIGKILL`
//! (or a crash) runs no destructor, and a daemon belongs to no process group
//! or session of the test's and has no parent-death signal (fork clears it),
//! so it would go on running. A watchdog closes that gap: a small shell
//! started in a session of its own, so that nothing sent to the test's
//! terminal or group reaches it, which waits until the test process is gone
//! and then kills every process whose command line names the test's folder,
//! and removes the folder, as the `DaemonDir` would have. It knows that the
//! test is gone when its stdin, a pipe whose other end only the test holds,
//! reaches end of file.
//!
//! Shared by the chapter's test files, the exercises' included
//! (`#[path = "../../ch07-daemon/tests/common/mod.rs"] mod common;`), with
//! the pipes that show that a daemon's output never stops it. Not every
//! file uses everything.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use testkit::daemon::DaemonDir;
use testkit::{timeout, wait_until};

/// The watchdog's script. `$FOLDER` is the test's folder, passed in the
/// environment so that the watchdog's own command line does not name it.
const WATCHDOG: &str = r#"
trap '' HUP INT QUIT TERM
read -r _
for cmdline in /proc/[0-9]*/cmdline; do
    pid=${cmdline#/proc/}
    pid=${pid%/cmdline}
    if tr '\0' '\n' <"$cmdline" 2>/dev/null | grep -q -F -e "$FOLDER/"
    then
        kill -KILL "$pid" 2>/dev/null
    fi
done
rm -rf -- "$FOLDER"
"#;

/// A test's `DaemonDir`, watched.
pub struct WatchedDir {
    /// Always `Some` until dropped: `drop` drops it first.
    dir: Option<DaemonDir>,
    watchdog: Option<Child>,
    to_watchdog: Option<OwnedFd>,
}

/// Makes a `DaemonDir` with a watchdog; use it where a test would call
/// `DaemonDir::new()`.
pub fn daemon_dir() -> WatchedDir {
    let dir = DaemonDir::new();
    // Close-on-exec, so that no other program the tests start holds the
    // test's end; the watchdog's end becomes its stdin.
    let (from_test, to_watchdog) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2");
    let mut command = Command::new("sh");
    command
        .args(["-c", WATCHDOG])
        .env("FOLDER", dir.path())
        .stdin(Stdio::from(from_test))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed; setsid is one system call.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let watchdog = command.spawn().expect("start the watchdog");
    WatchedDir {
        dir: Some(dir),
        watchdog: Some(watchdog),
        to_watchdog: Some(to_watchdog),
    }
}

impl Deref for WatchedDir {
    type Target = DaemonDir;

    fn deref(&self) -> &DaemonDir {
        self.dir.as_ref().expect("the folder lives until dropped")
    }
}

impl Drop for WatchedDir {
    fn drop(&mut self) {
        // The folder's own cleanup first. Then let the watchdog go (end of
        // file on its stdin): it finds nothing left to kill, and exits.
        drop(self.dir.take());
        drop(self.to_watchdog.take());
        if let Some(mut watchdog) = self.watchdog.take() {
            let exited = wait_until(timeout(), || {
                matches!(watchdog.try_wait(), Ok(Some(_)))
            });
            if !exited {
                let _ = watchdog.kill();
                let _ = watchdog.wait();
            }
        }
    }
}

// Pipes for a program's stdout and stderr that nobody reads, or that are
// closed.

/// A pipe: (read end, write end), closed on exec in the test's own
/// children.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2")
}

/// A pipe that nobody reads, already full: a program that writes to it
/// blocks. Returns both ends; keep the read end open.
pub fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (read, write) = pipe();
    let flags = fcntl(&write, FcntlArg::F_GETFL).expect("F_GETFL");
    let blocking = OFlag::from_bits_truncate(flags);
    fcntl(&write, FcntlArg::F_SETFL(blocking | OFlag::O_NONBLOCK))
        .expect("F_SETFL");
    let mut file = File::from(write);
    while file.write(&[b'x'; 4096]).is_ok() {}
    // Blocking again: that is how a program's stdout usually is.
    fcntl(&file, FcntlArg::F_SETFL(blocking)).expect("F_SETFL");
    (read, OwnedFd::from(file))
}

/// Makes `command`'s stderr `stderr` instead of the pipe `Process` reads.
/// (The closure runs after `Process` has set up its pipes.)
pub fn set_stderr(command: &mut Command, stderr: OwnedFd) {
    // SAFETY: runs in the child before exec; dup2 is one system call,
    // async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::dup2_stderr(&stderr)?;
            Ok(())
        });
    }
}
