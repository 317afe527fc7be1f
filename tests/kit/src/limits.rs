//! Running a program under a low resource limit, to show what it does when
//! it runs out: descriptors (`RLIMIT_NOFILE`, so that `accept()` fails with
//! `EMFILE`) or processes (`RLIMIT_NPROC`, so that `fork()` fails with
//! `EAGAIN`). See setrlimit(2).

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Makes `command` run with at most `limit` open descriptors (soft and hard
/// limit), from its first instruction on.
pub fn limit_descriptors(command: &mut Command, limit: u64) {
    set_in_child(command, Resource::RLIMIT_NOFILE, limit);
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
        command.pre_exec(move || setrlimit(resource, limit, limit).map_err(std::io::Error::from));
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
}
