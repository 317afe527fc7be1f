//! Holding a server still at a chosen instant, with ptrace(2), the
//! debuggers' system call: for races whose window is microseconds long,
//! such as a client that is gone between the `poll()` that announced it and
//! the `accept()` meant to take it. Where this machine does not let the
//! test trace the server (a security policy, another tracer), the function
//! says why, and the test skips.

use nix::sys::ptrace::{self, Options};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

/// Stops `pid` (a child of the test, or a process the test may trace),
/// runs `meanwhile`, then lets `pid` run until its next `poll()` (or
/// `ppoll()`) returns with something ready, and stops it right there, on
/// its way out of the kernel: before it has looked at what `poll()` said.
/// The process stays stopped and traced; [`release`] lets it go on.
///
/// Signals sent to the process meanwhile are passed on to it.
#[cfg(target_env = "gnu")]
#[track_caller]
pub fn stop_after_ready_poll(
    pid: u32,
    meanwhile: impl FnOnce(),
) -> Result<(), String> {
    use nix::libc;

    /// Whether system call number `nr` is poll() or ppoll(), or the kernel
    /// going on with one that a stop interrupted (restart_syscall).
    fn is_poll(nr: u64) -> bool {
        #[cfg(target_arch = "x86_64")]
        if nr == libc::SYS_poll as u64 {
            return true;
        }
        [libc::SYS_ppoll, libc::SYS_restart_syscall].contains(&(nr as i64))
    }

    let pid = Pid::from_raw(pid as i32);
    ptrace::seize(pid, Options::PTRACE_O_TRACESYSGOOD)
        .map_err(|errno| format!("cannot trace process {pid}: {errno}"))?;
    ptrace::interrupt(pid).map_err(|errno| errno.to_string())?;
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::PtraceEvent(..)) => break,
            Ok(_) => continue,
            Err(errno) => return Err(errno.to_string()),
        }
    }
    meanwhile();
    let (mut signal, mut syscall) = (None, 0);
    loop {
        ptrace::syscall(pid, signal.take()).map_err(|e| e.to_string())?;
        match waitpid(pid, None).map_err(|errno| errno.to_string())? {
            WaitStatus::PtraceSyscall(_) => {
                let info =
                    ptrace::syscall_info(pid).map_err(|e| e.to_string())?;
                // SAFETY: the kernel filled in the half of the union that
                // `op` names: the call's number on entry, its result on exit.
                unsafe {
                    match info.op {
                        libc::PTRACE_SYSCALL_INFO_ENTRY => {
                            syscall = info.u.entry.nr
                        }
                        libc::PTRACE_SYSCALL_INFO_EXIT
                            if is_poll(syscall) && info.u.exit.sval > 0 =>
                        {
                            return Ok(());
                        }
                        _ => {}
                    }
                }
            }
            // A signal for the traced process: pass it on.
            WaitStatus::Stopped(_, sent) => signal = Some(sent),
            _ => {}
        }
    }
}

/// Where the system calls a process makes cannot be read (the test reads
/// them with glibc's ptrace only), says so.
#[cfg(not(target_env = "gnu"))]
pub fn stop_after_ready_poll(
    _pid: u32,
    _meanwhile: impl FnOnce(),
) -> Result<(), String> {
    Err("the test reads system calls with glibc's ptrace only".to_string())
}

/// Stops tracing `pid`, which goes on from where it was stopped.
#[track_caller]
pub fn release(pid: u32) {
    if let Err(errno) = ptrace::detach(Pid::from_raw(pid as i32), None) {
        panic!("could not let process {pid} go on: {errno}");
    }
}
