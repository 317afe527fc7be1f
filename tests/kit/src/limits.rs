//! Running a program under a low resource limit, to show what it does when
//! it runs out: descriptors (`RLIMIT_NOFILE`, so that `accept()` fails with
//! `EMFILE`) or processes (`RLIMIT_NPROC`, so that `fork()` fails with
//! `EAGAIN`). See setrlimit(2).

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::libc;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::{Process, skip};

/// Makes `command` run with at most `limit` open descriptors, from its first
/// instruction on. Only the soft limit is lowered: the hard one stays, so
/// that the test can raise the limit again ([`set_descriptor_limit`]).
pub fn limit_descriptors(command: &mut Command, limit: u64) {
    // SAFETY: the closure runs in the forked child before exec and only calls
    // getrlimit(2) and setrlimit(2), which are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
            setrlimit(Resource::RLIMIT_NOFILE, limit.min(hard), hard)
                .map_err(std::io::Error::from)
        });
    }
}

/// Makes `command` run with at most `limit` processes for its user (soft and
/// hard limit). The kernel counts every process of the real user id, so this
/// only bites for a user other than root (root is exempt), and the count
/// includes the user's other processes.
#[track_caller]
pub fn limit_processes(command: &mut Command, limit: u64) {
    set_in_child(command, Resource::RLIMIT_NPROC, limit);
}

fn set_in_child(command: &mut Command, resource: Resource, limit: u64) {
    // SAFETY: the closure runs in the forked child before exec and only calls
    // setrlimit(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            setrlimit(resource, limit, limit).map_err(std::io::Error::from)
        });
    }
}

/// Sets the soft descriptor limit of a running process, `pid`, with
/// prlimit(2), keeping its hard limit: the test's way to give a server that
/// ran out of descriptors some more, and see it serve again.
#[track_caller]
pub fn set_descriptor_limit(pid: u32, limit: u64) {
    let new = nix::libc::rlimit {
        rlim_cur: limit,
        rlim_max: hard_descriptor_limit(),
    };
    // SAFETY: prlimit only reads `new`, a valid rlimit, and writes nothing
    // (the old-limit pointer is null). The child's hard limit is ours, since
    // limit_descriptors keeps it.
    let result = unsafe {
        nix::libc::prlimit(
            pid as nix::libc::pid_t,
            nix::libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    if result != 0 {
        panic!(
            "could not set the descriptor limit of {pid} to {limit}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The hard limit on open descriptors of this process: how far a test may
/// raise its own soft limit (some containers set it low).
pub fn hard_descriptor_limit() -> u64 {
    getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(_, hard)| hard)
}

/// Raises this test process's soft descriptor limit to `needed`, if it is
/// lower, within the hard limit: the programs the test starts inherit it,
/// and a test that holds a thousand connections needs more than the usual
/// 1024. Returns `false`, having said that the test is skipped, where the
/// hard limit is below `needed`; the test then returns. Raise it only in a
/// test that has a file (so a test process) of its own.
#[track_caller]
pub fn raise_own_descriptor_limit(needed: u64) -> bool {
    let hard = hard_descriptor_limit();
    if hard < needed {
        crate::skip(&format!(
            "this test needs a hard RLIMIT_NOFILE of {needed}, not {hard}"
        ));
        return false;
    }
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft);
    if soft < needed {
        if let Err(errno) = setrlimit(Resource::RLIMIT_NOFILE, needed, hard) {
            panic!("could not raise the descriptor limit to {needed}: {errno}");
        }
    }
    true
}

/// Whether this process runs as root, whom `RLIMIT_NPROC` does not limit.
#[track_caller]
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The user `nobody`, whom a test running as root runs a program as, so
/// that `RLIMIT_NPROC` binds it.
pub const NOBODY: u32 = 65534;

/// How many tasks (processes and their threads) the user `uid` runs: what
/// the kernel compares with `RLIMIT_NPROC` when one of them forks.
#[track_caller]
pub fn tasks_of(uid: u32) -> u64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry.file_name().to_str().is_some_and(|name| {
                name.bytes().all(|byte| byte.is_ascii_digit())
            })
        })
        .filter_map(|entry| {
            fs::read_to_string(entry.path().join("status")).ok()
        })
        .filter(|status| {
            let real_uid = status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next())
                .and_then(|id| id.parse::<u32>().ok());
            real_uid == Some(uid)
        })
        .map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|count| count.trim().parse().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// Sets the soft `RLIMIT_NPROC` of the running process `pid`, which runs as
/// user `uid`, to `soft` (at most its hard limit, which stays).
///
/// prlimit(2) may change the limits of a process of one's own user, or of
/// anyone's with `CAP_SYS_RESOURCE`, which a root test may lack (containers
/// often drop it). So the call is made by a short-lived helper, `true`, run as
/// `uid`: after it has become that user and before it runs `true`.
#[track_caller]
pub fn set_process_limit(pid: u32, uid: u32, soft: u64) {
    let mut helper = Command::new("true");
    if uid != nix::unistd::getuid().as_raw() {
        helper.uid(uid).gid(uid);
    }
    let target = pid as libc::pid_t;
    // SAFETY: the closure runs in the forked helper before exec, and only
    // calls prlimit(2), which is async-signal-safe, with pointers to rlimit
    // values on its own stack.
    unsafe {
        helper.pre_exec(move || {
            let mut old = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::prlimit(
                target,
                libc::RLIMIT_NPROC,
                std::ptr::null(),
                &mut old,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let new = libc::rlimit {
                rlim_cur: soft.min(old.rlim_max),
                rlim_max: old.rlim_max,
            };
            if libc::prlimit(
                target,
                libc::RLIMIT_NPROC,
                &new,
                std::ptr::null_mut(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let run = Process::run_command(helper);
    assert_eq!(run.code(), 0, "could not set the process limit: {run:?}");
}

/// A command that runs `program` as a user whom `RLIMIT_NPROC` binds, and
/// that user's id: the test's own user, or [`NOBODY`] when the test runs as
/// root. `None`, having said why the test is skipped, when `nobody` cannot
/// run the program (a folder on its path that only root may enter, say).
#[track_caller]
pub fn command_bound_by_process_limit(program: &str) -> Option<(Command, u32)> {
    if !is_root() {
        return Some((Command::new(program), nix::unistd::getuid().as_raw()));
    }
    // Can nobody run it? Start it with an argument it refuses, at once.
    let mut probe = Command::new(program);
    probe
        .arg("--help")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match probe.spawn() {
        Ok(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(err) => {
            skip(&format!(
                "the user nobody ({NOBODY}) cannot run {program}: {err}"
            ));
            return None;
        }
    }
    let mut command = Command::new(program);
    command.uid(NOBODY).gid(NOBODY);
    Some((command, NOBODY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_runs_with_the_descriptor_limit_it_was_given() {
        let mut command = Command::new("sh");
        command.args(["-c", "ulimit -n"]);
        limit_descriptors(&mut command, 42);
        let run = Process::run_command(command);
        assert_eq!(run.stdout.trim(), "42", "{run:?}");
    }

    #[test]
    fn a_running_child_gets_a_new_descriptor_limit() {
        let mut command = Command::new("sh");
        // Reports its limit when told to (a line on stdin), then exits.
        command.args(["-c", "read line; ulimit -n"]);
        limit_descriptors(&mut command, 42);
        let mut process = Process::spawn(command);
        set_descriptor_limit(process.pid(), 64);
        process.write_stdin(b"go\n");
        process.close_stdin();
        assert_eq!(process.finish().stdout.trim(), "64");
    }

    #[test]
    fn the_own_limit_is_raised_within_the_hard_limit_only() {
        let hard = hard_descriptor_limit();
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert!(raise_own_descriptor_limit(soft), "no change needed");
        if hard < u64::MAX {
            assert!(!raise_own_descriptor_limit(hard + 1), "beyond the hard");
        }
        let (after, _) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(after, soft, "a refused raise changes nothing");
    }

    #[test]
    fn the_tasks_of_a_user_count_this_process_and_its_threads() {
        let me = nix::unistd::getuid().as_raw();
        let threads = crate::kernel::threads(std::process::id()) as u64;
        assert!(tasks_of(me) >= threads, "{} < {threads}", tasks_of(me));
    }

    #[test]
    fn a_running_child_gets_a_new_process_limit() {
        let mut command = Command::new("sh");
        // Reports its limits when told to (a line on stdin), then exits.
        command.args(["-c", "read line; grep 'Max processes' /proc/$$/limits"]);
        limit_processes(&mut command, 4000);
        let mut process = Process::spawn(command);
        let me = nix::unistd::getuid().as_raw();
        set_process_limit(process.pid(), me, 3000);
        process.write_stdin(b"go\n");
        process.close_stdin();
        let limits = process.finish().stdout;
        let numbers: Vec<&str> = limits.split_whitespace().skip(2).collect();
        assert_eq!(numbers[..2], ["3000", "4000"], "soft, hard: {limits}");
    }
}
