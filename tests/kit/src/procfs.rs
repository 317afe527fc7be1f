//! What `/proc` tells about a process: its parent, session, terminal, state,
//! children, descriptors, working directory and CPU time (see proc(5)).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use nix::unistd::{SysconfVar, sysconf};

use crate::{timeout, wait_until};

/// The fields of `/proc/<pid>/stat` the tests use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// The program name, at most 15 bytes (`comm`).
    pub comm: String,
    /// `R` running, `S` sleeping, `Z` zombie, ... (see proc(5)).
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub session: u32,
    /// The controlling terminal's device number; 0 when there is none.
    pub tty_nr: i64,
    /// CPU time in user and kernel mode, in clock ticks.
    pub utime: u64,
    pub stime: u64,
}

/// Reads `/proc/<pid>/stat`, or `None` if the process is gone.
#[track_caller]
pub fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name is in parentheses and may itself hold spaces or parentheses,
    // so split at the last `)`.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // fields[0] is field 3 of proc(5) (state), so field N is fields[N - 3].
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or("0");
    Some(Stat {
        pid,
        comm,
        state: field(3).chars().next().unwrap_or('?'),
        ppid: field(4).parse().ok()?,
        pgrp: field(5).parse().ok()?,
        session: field(6).parse().ok()?,
        tty_nr: field(7).parse().ok()?,
        utime: field(14).parse().ok()?,
        stime: field(15).parse().ok()?,
    })
}

/// Whether a process with this pid exists (a zombie counts as existing).
#[track_caller]
pub fn exists(pid: u32) -> bool {
    stat(pid).is_some()
}

/// Whether `pid` runs: it exists and is not a zombie (it has not exited).
#[track_caller]
pub fn is_running(pid: u32) -> bool {
    stat(pid).is_some_and(|process| process.state != 'Z')
}

/// Waits until `pid` is in `state` (`S` asleep, `T` stopped, ...; see
/// [`Stat::state`]), and fails the test if it is not within
/// [`timeout()`](crate::timeout): after a `SIGSTOP`, say, until the kernel
/// has stopped it.
#[track_caller]
pub fn wait_for_state(pid: u32, state: char) {
    let reached = wait_until(timeout(), || {
        stat(pid).is_some_and(|process| process.state == state)
    });
    assert!(
        reached,
        "process {pid} did not reach state {state} within {:?}: {:?}",
        timeout(),
        stat(pid)
    );
}

/// Every process on the machine, as read from `/proc`.
#[track_caller]
fn all() -> Vec<Stat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            entry.ok()?.file_name().to_str()?.parse::<u32>().ok()
        })
        .filter_map(stat)
        .collect()
}

/// The processes whose parent is `pid`, zombies included.
#[track_caller]
pub fn children(pid: u32) -> Vec<Stat> {
    all()
        .into_iter()
        .filter(|child| child.ppid == pid)
        .collect()
}

/// The children of `pid` that are alive (not zombies).
#[track_caller]
pub fn live_children(pid: u32) -> Vec<Stat> {
    children(pid)
        .into_iter()
        .filter(|child| child.state != 'Z')
        .collect()
}

/// The children of `pid` that have exited but were not reaped.
#[track_caller]
pub fn zombie_children(pid: u32) -> Vec<Stat> {
    children(pid)
        .into_iter()
        .filter(|child| child.state == 'Z')
        .collect()
}

/// Every process in process group `pgrp`.
#[track_caller]
pub fn group_members(pgrp: u32) -> Vec<Stat> {
    all()
        .into_iter()
        .filter(|process| process.pgrp == pgrp)
        .collect()
}

/// How many descriptors `pid` has open.
pub fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// What descriptor `fd` of `pid` refers to (a path, or `socket:[inode]`).
pub fn fd_target(pid: u32, fd: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()
}

/// Every descriptor `pid` has open, with what it refers to (a path, or
/// `socket:[inode]`, `pipe:[inode]`...). Empty if the process is gone.
#[track_caller]
pub fn descriptors(pid: u32) -> BTreeMap<u32, PathBuf> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let fd = entry.file_name().to_str()?.parse().ok()?;
            Some((fd, fd_target(pid, fd)?))
        })
        .collect()
}

/// The lowest descriptor number `pid` has free: the one its next socket
/// would get. It is the limit to give the process
/// ([`limits::set_descriptor_limit`](crate::limits::set_descriptor_limit))
/// to leave it no descriptor at all, since the limit caps the *numbers* of
/// new descriptors. Counting the ones it has open is not enough: it may
/// have inherited some with gaps below them (cargo's jobserver pipe, say).
///
/// A process asleep in `accept()` has taken the number for the connection
/// it waits for before it slept (Linux reserves it first), so it still
/// accepts one more client under that limit; a test that wants a client
/// left waiting connects two.
#[track_caller]
pub fn lowest_free_descriptor(pid: u32) -> u64 {
    let open = descriptors(pid);
    assert!(!open.is_empty(), "process {pid} is gone");
    (0..).find(|fd| !open.contains_key(fd)).map_or(0, u64::from)
}

/// How many of `pid`'s open descriptors are numbered below `limit`: under
/// that descriptor limit, the process has `limit` minus these left.
#[track_caller]
pub fn descriptors_below(pid: u32, limit: u64) -> usize {
    descriptors(pid)
        .keys()
        .filter(|&&fd| u64::from(fd) < limit)
        .count()
}

/// The inode of the socket behind descriptor `fd` of `pid`, as
/// `/proc/net/tcp` shows it; fails the test if that is no socket.
#[track_caller]
pub fn socket_inode(pid: u32, fd: u32) -> u64 {
    let Some(target) = fd_target(pid, fd) else {
        panic!("process {pid} has no descriptor {fd}");
    };
    let inode = target
        .to_str()
        .and_then(|text| text.strip_prefix("socket:["))
        .and_then(|text| text.strip_suffix(']'))
        .and_then(|inode| inode.parse().ok());
    match inode {
        Some(inode) => inode,
        None => panic!("descriptor {fd} of {pid} is {target:?}, not a socket"),
    }
}

/// The file status flags of descriptor `fd` of `pid` (`O_NONBLOCK`,
/// `O_APPEND`...; the `flags:` of `/proc/<pid>/fdinfo/<fd>`, in octal
/// there), or `None` if there is no such descriptor.
#[track_caller]
pub fn fd_flags(pid: u32, fd: u32) -> Option<i32> {
    let fdinfo = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let flags = fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))?;
    i32::from_str_radix(flags.trim(), 8).ok()
}

/// The working directory of `pid`.
pub fn cwd(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// The file-mode creation mask of `pid`, from `/proc/<pid>/status`.
#[track_caller]
pub fn umask(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("Umask:"))?;
    u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
}

/// User plus system CPU time `pid` has used so far.
#[track_caller]
pub fn cpu_time(pid: u32) -> Duration {
    let Some(stat) = stat(pid) else {
        return Duration::ZERO;
    };
    let ticks_per_second = match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => ticks as u64,
        _ => 100,
    };
    let ticks = stat.utime + stat.stime;
    Duration::from_micros(ticks * 1_000_000 / ticks_per_second)
}

/// How much CPU time `pid` uses while `span` passes: to show that a server
/// waiting for clients is asleep in the kernel, not spinning.
#[track_caller]
pub fn cpu_used_during(pid: u32, span: Duration) -> Duration {
    let before = cpu_time(pid);
    std::thread::sleep(span);
    cpu_time(pid).saturating_sub(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Process;
    use nix::sys::signal::Signal;
    use std::process::Command;

    /// A shell that opens descriptor 3 and 5, closes 4 (which it might
    /// have inherited), says so, and waits for a line.
    fn shell_with_a_gap_at_4() -> Process {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "exec 3</dev/null 5</dev/null 4<&-; echo ready; read line",
        ]);
        let mut shell = Process::spawn(command);
        assert_eq!(shell.next_line(), "ready");
        shell
    }

    #[test]
    fn the_lowest_free_descriptor_is_the_first_gap() {
        let shell = shell_with_a_gap_at_4();
        let open = descriptors(shell.pid());
        assert!(open.contains_key(&5), "{open:?}");
        assert_eq!(lowest_free_descriptor(shell.pid()), 4, "{open:?}");
        assert_eq!(descriptors_below(shell.pid(), 6), 5, "{open:?}");
    }

    #[test]
    fn a_stopped_process_is_seen_stopped_and_still_running() {
        let shell = shell_with_a_gap_at_4();
        wait_for_state(shell.pid(), 'S');
        shell.signal(Signal::SIGSTOP);
        wait_for_state(shell.pid(), 'T');
        assert!(is_running(shell.pid()));
    }

    #[test]
    fn an_exited_process_is_not_running() {
        let process = Process::spawn(Command::new("true"));
        let pid = process.pid();
        assert!(wait_until(timeout(), || !is_running(pid)));
        assert!(exists(pid), "a zombie until reaped");
    }
}
