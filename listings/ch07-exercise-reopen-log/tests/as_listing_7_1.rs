//! The exercise's daemon is Listing 7-1 with SIGHUP added: it must keep
//! what Listing 7-1 guarantees, which its tests (listings/ch07-daemon)
//! check in full. These are the checks of its defences, run again here.

use std::fs;
use std::process::Command;
use std::time::Duration;

use testkit::daemon::DaemonDir;
use testkit::pipes::{UnreadPipe, closed_pipe};
use testkit::{
    Client, Process, Server, connect_when_listening, limits, procfs, timeout,
    unused_port,
};

const DAEMON: &str = env!("CARGO_BIN_EXE_ch07-exercise-reopen-log");
const WELCOME: &[u8] = b"Welcome to My First Server...\n";

/// The daemon's options for the folder's pid file and log, on `port`.
fn args(dir: &DaemonDir, port: u16) -> Vec<String> {
    vec![
        "--pid-file".to_string(),
        dir.pid_file().display().to_string(),
        "--log-file".to_string(),
        dir.log_file().display().to_string(),
        format!("127.0.0.1:{port}"),
    ]
}

#[test]
fn symbolic_links_at_its_files_paths_are_not_followed() {
    for (planted, error) in
        [("pid", "could not lock"), ("log", "could not open")]
    {
        let dir = DaemonDir::new();
        let path = match planted {
            "pid" => dir.pid_file(),
            _ => dir.log_file(),
        };
        let precious = dir.path().join("precious");
        fs::write(&precious, "precious\n").expect("write");
        std::os::unix::fs::symlink(&precious, &path).expect("symlink");

        let run = Process::run(DAEMON, args(&dir, 0), b"");
        assert_eq!(run.code(), 1, "{run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "{error} {}: it is a symbolic link, which the daemon does not \
                 follow\n",
                path.display()
            )
        );
        assert!(dir.processes().is_empty(), "a daemon started anyway");
        let kept = fs::read_to_string(&precious).expect("read");
        assert_eq!(kept, "precious\n", "through the {planted} file's link");
    }
}

#[test]
fn out_of_descriptors_it_neither_spins_nor_floods_its_log() {
    let dir = DaemonDir::new();
    let server = Server::start_with(DAEMON, args(&dir, 0), &[]);
    let addr = server.addr();
    let launcher = server.into_process().finish();
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    let pid = dir.daemon_pid();
    limits::set_descriptor_limit(pid, procfs::open_fds(pid) as u64);
    let lines_before = dir.log().lines().count();

    let mut client = Client::connect(addr);
    let used = procfs::cpu_used_during(pid, Duration::from_secs(1));
    assert!(used < Duration::from_millis(250), "used {used:?} of CPU");
    let failures = dir.log().lines().count() - lines_before;
    assert!((1..=15).contains(&failures), "{}", dir.log());

    limits::set_descriptor_limit(pid, 1024);
    assert_eq!(client.read_to_end(), WELCOME);
}

#[test]
fn a_closed_stdout_or_a_full_stderr_stops_nothing() {
    // The launcher, with stdout a closed pipe.
    let dir = DaemonDir::new();
    let port = unused_port();
    let mut command = Command::new(DAEMON);
    command.args(args(&dir, port));
    let mut launcher =
        Process::spawn_with_stdout(command, closed_pipe().into());
    let status = launcher.wait_exit(timeout());
    assert!(status.success(), "{status:?}: {}", launcher.stderr());
    let addr = ([127, 0, 0, 1], port).into();
    assert_eq!(connect_when_listening(addr).read_to_end(), WELCOME);

    // In the foreground, with its log on stderr, a pipe nobody reads.
    let dir = DaemonDir::new();
    let port = unused_port();
    let unread = UnreadPipe::full();
    let mut command = Command::new(DAEMON);
    command.arg("--foreground").args(args(&dir, port));
    let mut server =
        Process::spawn_with_stderr(command, unread.writer().into());
    let addr = ([127, 0, 0, 1], port).into();
    assert_eq!(connect_when_listening(addr).read_to_end(), WELCOME);
    for _ in 0..100 {
        assert_eq!(Client::connect(addr).read_to_end(), WELCOME);
    }
    assert!(!server.has_exited());
}
