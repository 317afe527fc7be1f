//! Testing a daemon without leaving it behind.
//!
//! A daemon leaves the process group, and the session, that the test started
//! it in, so dropping the launcher's [`Process`](crate::Process) cannot kill
//! it. A [`DaemonDir`] can. Each test makes its own: a fresh temporary folder
//! for the daemon's pid file and log, whose paths the test passes on the
//! daemon's command line. Dropping the `DaemonDir` kills every process whose
//! command line names the folder (so it finds the daemon even if the test
//! failed before a pid file was written), reaps it, and removes the folder.
//! Create it first in a test, so that it is dropped last.
//!
//! A test binary that is itself killed (`SIGKILL`, a crash) runs no
//! destructor, and a daemon belongs to no process group or session of the
//! test's and has no parent-death signal (fork clears it), so it would go
//! on running. A watchdog closes that gap: each `DaemonDir` starts a small
//! shell in a session of its own, so that nothing sent to the test's
//! terminal or group reaches it, which waits until the test process is gone
//! and then kills every process whose command line names the folder, and
//! removes the folder, as the `DaemonDir` would have. It knows that the test
//! is gone when its stdin, a pipe whose other end only the test holds,
//! reaches end of file. When the `DaemonDir` is dropped, the watchdog finds
//! nothing left to do, and exits.
//!
//! Making one also makes the test process a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`, see prctl(2)): a daemon whose parents have
//! exited becomes a child of the test instead of init. The test can then wait
//! for it and read its exit status, and it leaves no zombie behind even on
//! machines whose init does not reap orphans (as in some containers).

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::{pipes, procfs, timeout, wait_until};

/// The watchdog's script (see the module docs). `$FOLDER` is the test's
/// folder, passed in the environment so that the watchdog's own command
/// line does not name it.
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

/// A temporary folder for one test's daemon; see the module docs.
pub struct DaemonDir {
    path: PathBuf,
    /// Every pid this folder has learned about (from the pid file or from
    /// `/proc`), so that `drop` can reap them even once they are zombies,
    /// whose command line `/proc` no longer shows.
    seen: Mutex<BTreeSet<u32>>,
    /// The watchdog, and the end of its stdin that only this process holds.
    watchdog: Option<(Child, OwnedFd)>,
}

impl DaemonDir {
    /// Creates an empty folder below the system's temporary folder.
    #[track_caller]
    pub fn new() -> DaemonDir {
        static SUBREAPER: Once = Once::new();
        SUBREAPER.call_once(|| {
            nix::sys::prctl::set_child_subreaper(true)
                .expect("PR_SET_CHILD_SUBREAPER");
        });
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "testkit-daemon-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        // Left over from an earlier run that had the same pid, perhaps.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create the daemon's folder");
        let watchdog = Some(watchdog(&path));
        DaemonDir {
            path,
            seen: Mutex::new(BTreeSet::new()),
            watchdog,
        }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the daemon should keep its pid file: `<folder>/daemon.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.path.join("daemon.pid")
    }

    /// Where the daemon should write its log: `<folder>/daemon.log`.
    pub fn log_file(&self) -> PathBuf {
        self.path.join("daemon.log")
    }

    /// The log so far, or an empty string if there is none.
    #[track_caller]
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// The pid in the pid file, if it holds one.
    #[track_caller]
    pub fn try_daemon_pid(&self) -> Option<u32> {
        let pid = fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        self.remember([pid]);
        Some(pid)
    }

    /// The pid in the pid file; fails the test if there is none.
    #[track_caller]
    pub fn daemon_pid(&self) -> u32 {
        match self.try_daemon_pid() {
            Some(pid) => pid,
            None => panic!(
                "{} holds no pid ({:?})",
                self.pid_file().display(),
                fs::read_to_string(self.pid_file())
            ),
        }
    }

    /// Every live process, other than this one, whose command line names
    /// the folder or a file in it: the launcher, the daemon, anything between.
    #[track_caller]
    pub fn processes(&self) -> Vec<u32> {
        // The arguments in /proc/<pid>/cmdline end with a NUL byte each. The
        // folder's name must end there or at a `/`: `...-1` is not `...-12`.
        let folder = self.path.to_string_lossy().into_owned();
        let names_folder = |cmdline: &str| {
            cmdline.contains(&format!("{folder}/"))
                || cmdline.contains(&format!("{folder}\0"))
        };
        let me = std::process::id();
        let found: Vec<u32> = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != me)
            .filter(|&pid| {
                fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                    names_folder(&String::from_utf8_lossy(&cmdline))
                })
            })
            .collect();
        self.remember(found.iter().copied());
        found
    }

    /// Waits up to `limit` for `pid`, a daemon this test process adopted
    /// (or any child of it), to exit; reaps it and returns how it ended.
    /// Fails the test if it is still running after `limit`.
    #[track_caller]
    pub fn wait_exit(&self, pid: u32, limit: Duration) -> WaitStatus {
        self.remember([pid]);
        match reap(pid, limit) {
            Some(status) => status,
            None => panic!("process {pid} did not exit within {limit:?}"),
        }
    }

    fn remember(&self, pids: impl IntoIterator<Item = u32>) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(pids);
    }
}

impl Default for DaemonDir {
    fn default() -> DaemonDir {
        DaemonDir::new()
    }
}

impl Drop for DaemonDir {
    fn drop(&mut self) {
        // Kill by command line only: a pid remembered earlier may belong to
        // an unrelated process by now, a command line naming our folder not.
        for pid in self.processes() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        // Reap what was adopted: our children that left our session with
        // setsid. A child in our session is a launcher that a `Process` or
        // the test itself waits for.
        let my_session = procfs::stat(std::process::id()).map(|me| me.session);
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for pid in seen {
            let adopted = procfs::stat(pid).is_some_and(|process| {
                process.ppid == std::process::id()
                    && Some(process.session) != my_session
            });
            if adopted {
                let _ = reap(pid, timeout());
            }
        }
        let _ = fs::remove_dir_all(&self.path);
        // Let the watchdog go (end of file on its stdin): it finds nothing
        // left to kill, and exits.
        if let Some((mut watchdog, to_watchdog)) = self.watchdog.take() {
            drop(to_watchdog);
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

/// Starts the watchdog of `folder` (see the module docs); returns it and the
/// end of its stdin that the test holds.
#[track_caller]
fn watchdog(folder: &Path) -> (Child, OwnedFd) {
    // Close-on-exec, so that no other program the tests start holds the
    // test's end; the watchdog's end becomes its stdin.
    let (from_test, to_watchdog) = pipes::pipe();
    let mut command = Command::new("sh");
    command
        .args(["-c", WATCHDOG])
        .env("FOLDER", folder)
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
    match command.spawn() {
        Ok(watchdog) => (watchdog, to_watchdog),
        Err(err) => panic!("could not start the watchdog: {err}"),
    }
}

/// Waits up to `limit` for our child `pid` to exit and reaps it. `None` if
/// it is still running, or is not our child.
fn reap(pid: u32, limit: Duration) -> Option<WaitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(status) => return Some(status),
        }
    }
}
