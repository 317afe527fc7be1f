//! The checks for exercise 10-2. They fail on the unchanged starter and pass
//! once SIGHUP replaces every worker, letting busy ones finish their client.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{Client, Server, procfs, timeout, wait_until};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-exercise-graceful-reload");

fn start(workers: usize) -> Server {
    Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &workers.to_string())],
    )
}

/// The server's live children.
fn workers(server: &Server) -> BTreeSet<u32> {
    procfs::live_children(server.pid())
        .iter()
        .map(|child| child.pid)
        .collect()
}

/// Waits until the server's live children satisfy `condition`, and returns
/// them. Fails at once if the supervisor is gone (the unchanged starter
/// dies of SIGHUP, its default action).
#[track_caller]
fn wait_for_workers(
    server: &Server,
    condition: impl Fn(&BTreeSet<u32>) -> bool,
) -> BTreeSet<u32> {
    let mut now = BTreeSet::new();
    let found = wait_until(timeout(), || {
        now = workers(server);
        condition(&now) || !procfs::is_running(server.pid())
    });
    assert!(procfs::is_running(server.pid()), "the supervisor is gone");
    assert!(found, "the workers never got there; now: {now:?}");
    now
}

/// Connects, reads the greeting and returns the client and the pid it names.
fn greeted(server: &Server) -> (Client, u32) {
    let mut client = server.connect();
    client.set_read_timeout(Duration::from_secs(5));
    let pid = client.read_greeting_pid();
    (client, pid)
}

#[test]
fn sighup_replaces_every_idle_worker() {
    let mut server = start(2);
    let old = wait_for_workers(&server, |now| now.len() == 2);
    server.process().signal(Signal::SIGHUP);
    server
        .process()
        .wait_for_stdout("SIGHUP: replacing 2 workers\n");
    let new = wait_for_workers(&server, |now| {
        now.len() == 2 && now.is_disjoint(&old)
    });
    for pid in &old {
        server
            .process()
            .wait_for_stdout(&format!("worker {pid} retired\n"));
        assert!(!procfs::exists(*pid), "old worker {pid} was not reaped");
    }
    let (_client, pid) = greeted(&server);
    assert!(new.contains(&pid));
}

#[test]
fn a_busy_worker_finishes_its_client_before_it_leaves() {
    let mut server = start(2);
    let old = wait_for_workers(&server, |now| now.len() == 2);
    let (mut client, busy) = greeted(&server);
    let idle = *old.iter().find(|&&pid| pid != busy).expect("two workers");

    server.process().signal(Signal::SIGHUP);
    server
        .process()
        .wait_for_stdout(&format!("worker {idle} retired\n"));
    // Two new workers, and the busy old one, still serving its client.
    let now = wait_for_workers(&server, |now| now.len() == 3);
    assert!(now.contains(&busy));
    client.send_line("still there?");
    assert_eq!(client.read_line(), "still there?\n");

    // New clients go to the new workers.
    let (_newcomer, pid) = greeted(&server);
    assert!(!old.contains(&pid), "a retiring worker took a new client");

    // The old worker leaves once its client does.
    drop(client);
    server
        .process()
        .wait_for_stdout(&format!("worker {busy} retired\n"));
    wait_for_workers(&server, |now| now.len() == 2 && now.is_disjoint(&old));
}

#[test]
fn a_worker_that_dies_is_still_replaced() {
    let mut server = start(2);
    let before = wait_for_workers(&server, |now| now.len() == 2);
    server.process().signal(Signal::SIGHUP);
    let new = wait_for_workers(&server, |now| {
        now.len() == 2 && now.is_disjoint(&before)
    });
    let victim = *new.first().expect("two workers");
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL)
        .expect("kill -9 a worker");
    server
        .process()
        .wait_for_stdout(&format!("worker {victim} was killed by SIGKILL\n"));
    wait_for_workers(&server, |now| now.len() == 2 && !now.contains(&victim));
}

#[test]
fn sigterm_after_a_reload_stops_old_and_new_workers() {
    let mut server = start(2);
    wait_for_workers(&server, |now| now.len() == 2);
    let (_client, busy) = greeted(&server);
    server.process().signal(Signal::SIGHUP);
    let all =
        wait_for_workers(&server, |now| now.len() == 3 && now.contains(&busy));

    server.process().signal(Signal::SIGTERM);
    let finished = server.into_process().finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    for pid in all {
        assert!(!procfs::exists(pid), "worker {pid} outlived the server");
    }
}

#[test]
fn the_supervisor_sleeps_after_a_reload() {
    let mut server = start(2);
    let old = wait_for_workers(&server, |now| now.len() == 2);
    server.process().signal(Signal::SIGHUP);
    wait_for_workers(&server, |now| now.len() == 2 && now.is_disjoint(&old));
    let used =
        procfs::cpu_used_during(server.pid(), Duration::from_millis(500));
    assert!(
        used <= Duration::from_millis(10),
        "the supervisor used {used:?}"
    );
}
