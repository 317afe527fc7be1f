//! What a server costs, read from /proc: the CPU time and the memory of all
//! its processes. Every server runs in a process group of its own, so its
//! processes are those whose group is the server's pid, whoever forked them.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::unistd::{SysconfVar, sysconf};

/// The fields of /proc/<pid>/stat we need.
struct Stat {
    group: i32,
    /// utime + stime, in clock ticks: the CPU time of the process's
    /// threads, those that have ended included.
    own_ticks: u64,
    /// cutime + cstime: that of the children it has reaped.
    children_ticks: u64,
}

fn stat(pid: &str) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: the fields we want
    // come after its closing parenthesis.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of proc(5), the state.
    let group = fields.get(2)?.parse().ok()?;
    let ticks = |from: usize| {
        let first = fields.get(from)?.parse::<u64>().ok()?;
        let second = fields.get(from + 1)?.parse::<u64>().ok()?;
        Some(first + second)
    };
    Some(Stat {
        group,
        own_ticks: ticks(11)?,
        children_ticks: ticks(13)?,
    })
}

/// The pids of the server's processes.
fn group_members(group: i32) -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|byte| byte.is_ascii_digit()))
        .filter(|pid| stat(pid).is_some_and(|stat| stat.group == group))
        .collect()
}

// ANCHOR: cpu
/// The CPU time, in seconds, used so far by the server's processes and by
/// those of its children that have ended and been reaped. A child that ends
/// between two readings moves from its own line to its parent's `cutime`,
/// so the difference of two readings counts it once.
pub fn group_cpu(group: i32) -> f64 {
    let per_tick = 1.0 / ticks_per_second();
    let mut seconds = 0.0;
    for pid in group_members(group) {
        let Some(stat) = stat(&pid) else { continue };
        // /proc/<pid>/stat counts in ticks of 10 ms, rounded down for each
        // process: a thousand forked children that used 5 ms each would
        // add up to nothing. The scheduler's own count, in nanoseconds,
        // is exact, but only for threads still alive: take the larger.
        let coarse = stat.own_ticks as f64 * per_tick;
        let fine = threads_runtime(&pid);
        seconds += coarse.max(fine) + stat.children_ticks as f64 * per_tick;
    }
    seconds
}
// ANCHOR_END: cpu

/// The CPU time of the process's live threads, from the scheduler's
/// `se.sum_exec_runtime` (milliseconds, with six decimals) in
/// /proc/<pid>/task/<tid>/sched; 0 where the kernel has no such file.
fn threads_runtime(pid: &str) -> f64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let milliseconds: f64 = tasks
        .flatten()
        .filter_map(|task| {
            let text = fs::read_to_string(task.path().join("sched")).ok()?;
            let line = text
                .lines()
                .find(|line| line.starts_with("se.sum_exec_runtime"))?;
            line.split(':').nth(1)?.trim().parse::<f64>().ok()
        })
        .sum();
    milliseconds / 1000.0
}

fn ticks_per_second() -> f64 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => ticks as f64,
        _ => 100.0,
    }
}

/// The proportional set size of the server's processes, in KiB: each page
/// counts in full for a process that has it to itself, and shared among
/// the processes that share it (the children of a fork share most pages
/// with their parent, and summing their RSS would count those many times).
pub fn group_pss_kib(group: i32) -> u64 {
    group_members(group)
        .iter()
        .filter_map(|pid| {
            let text =
                fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            let line = text.lines().find(|line| line.starts_with("Pss:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// Samples the server's memory every `every` (or less often, if a sample
/// takes long) until stopped, and keeps the highest sum seen.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
}

impl MemorySampler {
    pub fn start(group: i32, every: Duration) -> MemorySampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut peak = 0;
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                peak = peak.max(group_pss_kib(group));
                // Reading ten thousand processes' smaps takes a while: rest
                // four times as long, so that sampling takes at most a
                // fifth of a core from the server and the clients.
                thread::sleep(every.max(started.elapsed() * 4));
            }
            peak.max(group_pss_kib(group))
        });
        MemorySampler { stop, handle }
    }

    /// Stops sampling; the peak, in KiB.
    pub fn peak_kib(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}

/// CPU time the whole machine has spent busy so far, in seconds: user,
/// nice, system, interrupts and time stolen by the hypervisor, from the
/// first line of /proc/stat (in ticks), summed over all CPUs.
pub fn machine_busy() -> f64 {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|line| line.starts_with("cpu ")) else {
        return 0.0;
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and
    // iowait were busy.
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&index| fields.get(index))
        .sum();
    busy as f64 / ticks_per_second()
}

/// CPU time this whole process (the generator, and the threads that
/// sample memory and drain the servers' logs) has used so far, in seconds.
pub fn process_cpu() -> f64 {
    rusage_seconds(UsageWho::RUSAGE_SELF)
}

/// CPU time the calling thread (the load generator's) has used so far, in
/// seconds. The threads that sample memory and drain the servers' logs are
/// not the load generator, and are not counted.
pub fn own_cpu() -> f64 {
    rusage_seconds(UsageWho::RUSAGE_THREAD)
}

fn rusage_seconds(who: UsageWho) -> f64 {
    match getrusage(who) {
        Ok(usage) => {
            let seconds = |time: nix::sys::time::TimeVal| {
                time.tv_sec() as f64 + time.tv_usec() as f64 / 1e6
            };
            seconds(usage.user_time()) + seconds(usage.system_time())
        }
        Err(_) => 0.0,
    }
}
