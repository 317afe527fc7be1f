//! The checks for exercise 7-1. They fail on the unchanged starter (SIGHUP
//! kills it) and pass once SIGHUP makes the daemon reopen its log.

use std::fs;
use std::net::SocketAddr;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::daemon::DaemonDir;
use testkit::{Client, Server, procfs, timeout, wait_until};

const DAEMON: &str = env!("CARGO_BIN_EXE_ch07-exercise-reopen-log");

/// Starts the daemon with the folder's pid file and log; returns its
/// address and pid.
fn start_daemon(dir: &DaemonDir) -> (SocketAddr, u32) {
    let args = [
        "--pid-file".to_string(),
        dir.pid_file().display().to_string(),
        "--log-file".to_string(),
        dir.log_file().display().to_string(),
        "127.0.0.1:0".to_string(),
    ];
    let server = Server::start_with(DAEMON, args, &[]);
    let addr = server.addr();
    let launcher = server.into_process().finish();
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    (addr, dir.daemon_pid())
}

/// Sends SIGHUP and waits until the daemon has logged `line` (to the file
/// now at the log's path) or has died.
fn hang_up_and_wait_for(dir: &DaemonDir, pid: u32, line: &str) {
    kill(Pid::from_raw(pid as i32), Signal::SIGHUP).expect("kill");
    let settled = wait_until(timeout(), || {
        let dead = procfs::stat(pid).is_none_or(|daemon| daemon.state == 'Z');
        dead || dir.log().contains(line)
    });
    assert!(settled, "no {line:?} in the log: {:?}", dir.log());
    assert!(
        procfs::stat(pid).is_some_and(|daemon| daemon.state != 'Z'),
        "SIGHUP killed the daemon"
    );
}

#[test]
fn after_sighup_the_log_goes_to_a_new_file_at_the_same_path() {
    let dir = DaemonDir::new();
    let (addr, pid) = start_daemon(&dir);
    // What logrotate does: rename the log...
    let rotated = dir.path().join("daemon.log.1");
    fs::rename(dir.log_file(), &rotated).expect("rename the log");
    // ...where the daemon, which has the file open, goes on writing...
    let before = Client::connect(addr).read_to_end();
    assert!(!before.is_empty());
    assert!(
        fs::read_to_string(&rotated)
            .is_ok_and(|log| log.contains("connection from"))
    );
    // ...until SIGHUP tells it to open the file by its name again.
    let reopened = format!("reopened {}\n", dir.log_file().display());
    hang_up_and_wait_for(&dir, pid, &reopened);

    let mut client = Client::connect(addr);
    client.read_to_end();
    let caller = format!("connection from {}\n", client.local_addr());
    assert_eq!(dir.log(), format!("{reopened}{caller}"));
    let old = fs::read_to_string(&rotated).expect("the rotated log");
    assert!(!old.contains(&caller), "logged to the old file: {old:?}");
}

#[test]
fn a_log_that_cannot_be_reopened_keeps_the_old_one() {
    let dir = DaemonDir::new();
    let (addr, pid) = start_daemon(&dir);
    let rotated = dir.path().join("daemon.log.1");
    fs::rename(dir.log_file(), &rotated).expect("rename the log");
    // A folder where the log should be: open() fails with EISDIR.
    fs::create_dir(dir.log_file()).expect("create a folder");

    kill(Pid::from_raw(pid as i32), Signal::SIGHUP).expect("kill");
    let complaint = format!(
        "could not reopen {}: Is a directory (os error 21)\n",
        dir.log_file().display()
    );
    let logged = wait_until(timeout(), || {
        fs::read_to_string(&rotated).is_ok_and(|log| log.contains(&complaint))
            || procfs::stat(pid).is_none_or(|daemon| daemon.state == 'Z')
    });
    assert!(logged, "{:?}", fs::read_to_string(&rotated));

    // Still serving, and still logging, to the old file.
    let mut client = Client::connect(addr);
    client.read_to_end();
    let caller = format!("connection from {}\n", client.local_addr());
    let old = fs::read_to_string(&rotated).expect("the rotated log");
    assert!(old.ends_with(&caller), "{old:?}");
}

#[test]
fn sighup_twice_is_fine_and_sigterm_still_stops_it() {
    let dir = DaemonDir::new();
    let (_, pid) = start_daemon(&dir);
    let reopened = format!("reopened {}\n", dir.log_file().display());
    hang_up_and_wait_for(&dir, pid, &reopened);
    fs::remove_file(dir.log_file()).expect("remove the log");
    hang_up_and_wait_for(&dir, pid, &reopened);

    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("kill");
    let status = dir.wait_exit(pid, timeout());
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(Pid::from_raw(pid as i32), 0)
    );
    assert_eq!(dir.log(), format!("{reopened}stopped by SIGTERM\n"));
}

#[test]
fn a_symbolic_link_at_the_logs_path_is_not_followed() {
    // Whoever may write in the log's folder could put a link there, to
    // make the daemon write into a file of their choice.
    let dir = DaemonDir::new();
    let (addr, pid) = start_daemon(&dir);
    let rotated = dir.path().join("daemon.log.1");
    fs::rename(dir.log_file(), &rotated).expect("rename the log");
    let precious = dir.path().join("precious");
    fs::write(&precious, "precious\n").expect("write");
    std::os::unix::fs::symlink(&precious, dir.log_file()).expect("symlink");

    kill(Pid::from_raw(pid as i32), Signal::SIGHUP).expect("kill");
    let complaint = format!(
        "could not reopen {}: it is a symbolic link, which the daemon does \
         not follow\n",
        dir.log_file().display()
    );
    let logged = wait_until(timeout(), || {
        fs::read_to_string(&rotated).is_ok_and(|log| log.contains(&complaint))
            || procfs::stat(pid).is_none_or(|daemon| daemon.state == 'Z')
    });
    assert!(logged, "{:?}", fs::read_to_string(&rotated));

    // Still serving, still logging to the old file, and the file the link
    // points to is untouched.
    let mut client = Client::connect(addr);
    client.read_to_end();
    let caller = format!("connection from {}\n", client.local_addr());
    let old = fs::read_to_string(&rotated).expect("the rotated log");
    assert!(old.ends_with(&caller), "{old:?}");
    assert_eq!(
        fs::read_to_string(&precious).ok().as_deref(),
        Some("precious\n")
    );
}
