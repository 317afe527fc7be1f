//! Running a program under a low resource limit, to show what it does when
//! it runs out: descriptors (`RLIMIT_NOFILE`, so that `accept()` fails with
//! `EMFILE`) or processes (`RLIMIT_NPROC`, so that `fork()` fails with
//! `EAGAIN`). See setrlimit(2).

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

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

/// Whether this process runs as root, whom `RLIMIT_NPROC` does not limit.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Process;

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
}
