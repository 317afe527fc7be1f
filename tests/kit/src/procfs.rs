//! What `/proc` tells about a process: its parent, session, terminal, state,
//! children, descriptors, working directory and CPU time (see proc(5)).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use nix::unistd::{SysconfVar, sysconf};

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
pub fn exists(pid: u32) -> bool {
    stat(pid).is_some()
}

/// Every process on the machine, as read from `/proc`.
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
pub fn children(pid: u32) -> Vec<Stat> {
    all()
        .into_iter()
        .filter(|child| child.ppid == pid)
        .collect()
}

/// The children of `pid` that are alive (not zombies).
pub fn live_children(pid: u32) -> Vec<Stat> {
    children(pid)
        .into_iter()
        .filter(|child| child.state != 'Z')
        .collect()
}

/// The children of `pid` that have exited but were not reaped.
pub fn zombie_children(pid: u32) -> Vec<Stat> {
    children(pid)
        .into_iter()
        .filter(|child| child.state == 'Z')
        .collect()
}

/// Every process in process group `pgrp`.
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

/// The working directory of `pid`.
pub fn cwd(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// The file-mode creation mask of `pid`, from `/proc/<pid>/status`.
pub fn umask(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("Umask:"))?;
    u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
}

/// User plus system CPU time `pid` has used so far.
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
pub fn cpu_used_during(pid: u32, span: Duration) -> Duration {
    let before = cpu_time(pid);
    std::thread::sleep(span);
    cpu_time(pid).saturating_sub(before)
}
