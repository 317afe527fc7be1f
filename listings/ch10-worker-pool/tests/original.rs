//! The original's worker pool (`original/php/22-worker-pool.php`), run with
//! PHP, doing what chapter 10 says it does; and the same sessions with the
//! original and with Listing 10-1, side by side.
//!
//! The original listens on `0.0.0.0` and the port in `PORT`: each test sets
//! `PORT` to a free port and makes one declared edit, loopback instead of
//! every address.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::php::{Original, Php, php};
use testkit::{
    Client, Process, Server, Transcript, conventions, kernel, measured, procfs,
};
use testkit::{timeout, wait_until};

const SERVER: &str = env!("CARGO_BIN_EXE_ch10-worker-pool");

/// The original pool on loopback (its one declared edit, plus any in
/// `program`), started with `PORT` set to a free port and `env` added.
struct OriginalPool {
    process: Process,
    addr: SocketAddr,
}

impl OriginalPool {
    fn program() -> Original {
        Original::of(&["22-worker-pool"]).edit(
            "tcp://0.0.0.0:",
            "tcp://127.0.0.1:",
            1,
        )
    }

    /// Starts `program` and waits for its `workers` workers: one line
    /// `Creating worker process` each, and that many live children.
    fn start(
        php: &Php,
        program: &Original,
        env: &[(&str, &str)],
        workers: usize,
    ) -> OriginalPool {
        let port = testkit::unused_port();
        let port_text = port.to_string();
        let mut env = env.to_vec();
        env.push(("PORT", &port_text));
        let mut process = php.spawn(program, &env);
        for _ in 0..workers {
            assert_eq!(process.next_line(), "Creating worker process");
        }
        let pool = OriginalPool {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        pool.workers(workers);
        pool
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Waits until the pool has exactly `count` live workers, and returns
    /// their pids.
    fn workers(&self, count: usize) -> BTreeSet<u32> {
        let mut pids = BTreeSet::new();
        let found = wait_until(timeout(), || {
            pids = live_children(self.pid());
            pids.len() == count
        });
        assert!(found, "expected {count} workers, found {pids:?}");
        pids
    }

    /// Waits until the parent has gone round its loop at least `turns`
    /// times: each turn ends in `usleep`, one voluntary context switch.
    fn wait_for_turns(&self, turns: u64) {
        let start = switches(self.pid());
        assert!(
            wait_until(timeout(), || switches(self.pid()) >= start + turns),
            "the parent did not go round its loop {turns} times"
        );
    }
}

fn live_children(parent: u32) -> BTreeSet<u32> {
    procfs::live_children(parent)
        .iter()
        .map(|child| child.pid)
        .collect()
}

fn switches(pid: u32) -> u64 {
    kernel::voluntary_switches(pid)
        .unwrap_or_else(|| panic!("process {pid} is gone"))
}

fn kill_9(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9 a worker");
}

/// Backs ch10-prefork-worker-pools.md#wrong-threads-are-processes: the
/// original's "worker threads" are processes, each a child of the server with
/// a pid and a single thread of its own; and there are `MAX_PROCS` of them.
#[test]
fn the_originals_workers_are_processes_not_threads() {
    let Some(php) = php() else { return };
    let pool = OriginalPool::start(
        &php,
        &OriginalPool::program(),
        &[("MAX_PROCS", "3")],
        3,
    );
    let workers = pool.workers(3);
    assert!(!workers.contains(&pool.pid()));
    assert_eq!(kernel::threads(pool.pid()), 1);
    for &pid in &workers {
        assert_eq!(kernel::threads(pid), 1, "worker {pid}");
    }
    // Three clients at once are greeted by the three processes.
    let mut clients: Vec<Client> = (0..3).map(|_| pool.connect()).collect();
    let greeted: BTreeSet<u32> =
        clients.iter_mut().map(Client::read_greeting_pid).collect();
    assert_eq!(greeted, workers);
}

/// Backs ch10-prefork-worker-pools.md#wrong-respawn-loop: `usleep(500)` is
/// 500 microseconds, so the parent of an idle pool wakes up about two
/// thousand times a second and uses CPU for nothing. Listing 10-1's parent
/// sleeps.
#[test]
fn the_originals_parent_wakes_thousands_of_times_a_second_for_nothing() {
    let Some(php) = php() else { return };
    let pool = OriginalPool::start(&php, &OriginalPool::program(), &[], 2);
    let span = Duration::from_secs(2);
    let before = switches(pool.pid());
    let used = procfs::cpu_used_during(pool.pid(), span);
    let wakeups = switches(pool.pid()) - before;
    // About 2 x 2000 with nobody connecting; a tenth of that is plenty.
    assert!(wakeups >= 400, "only {wakeups} wakeups in {span:?}");
    assert!(
        used >= Duration::from_millis(10),
        "only {used:?} of CPU in {span:?} ({wakeups} wakeups)"
    );

    let ours = Server::start(SERVER);
    // Its two workers started (and, where the machine shows it, sleep in
    // accept()): the supervisor has nothing left to do.
    if kernel::wchan_is_readable() {
        kernel::children_asleep_in_accept(ours.pid(), 2);
    } else {
        assert!(wait_until(timeout(), || live_children(ours.pid()).len() == 2));
    }
    kernel::assert_asleep_during(ours.pid(), Duration::from_millis(500));
}

/// Backs ch10-prefork-worker-pools.md#wrong-failed-fork: a fork that fails
/// makes `create_worker` return -1, which the parent keeps as a worker. The
/// pool runs one short from then on, and `pcntl_waitpid(-1, ...)` reaps any
/// child, so the -1 "dies" in a real worker's place.
///
/// A fork fails when the machine or the user runs out of processes, which a
/// test cannot bring about portably, so the test makes the third call fail:
/// an edit makes `pcntl_fork()` return -1, as a failed fork does, that once.
/// Everything else is the original's.
#[test]
fn a_failed_fork_is_kept_as_a_worker_and_the_pool_runs_one_short() {
    let Some(php) = php() else { return };
    let program = OriginalPool::program()
        .edit("$workers = [];", "$workers = []; $forks = 0;", 1)
        .edit(
            "$pid = pcntl_fork();",
            "$pid = ++$GLOBALS['forks'] == 3 ? -1 : pcntl_fork();",
            1,
        );
    let mut pool = OriginalPool::start(&php, &program, &[], 2);
    let workers: Vec<u32> = pool.workers(2).into_iter().collect();
    let (first, second) = (workers[0], workers[1]);

    // The first replacement's fork fails: -1 goes into $workers.
    kill_9(first);
    assert_eq!(
        pool.process.next_line(),
        format!("Worker {first} has died :(")
    );
    assert_eq!(pool.process.next_line(), "Creating worker process");
    // Hundreds of turns later, one worker serves, and no replacement comes.
    pool.wait_for_turns(200);
    assert_eq!(live_children(pool.pid()), BTreeSet::from([second]));

    // Kill the one live worker until the -1 is reaped in a real worker's
    // place: `pcntl_waitpid(-1, ...)` reaps any child. (Which of the two
    // entries reaps a dead worker depends on their order in $workers, and on
    // whether the worker died between the two waitpid() calls of one turn:
    // once -1 comes first, it is the -1, but for a rare race.)
    let mut reaped_by_the_minus_one = false;
    for _ in 0..5 {
        let live = *pool.workers(1).first().expect("one worker");
        kill_9(live);
        let died = pool.process.next_line();
        assert!(
            died == format!("Worker {live} has died :(")
                || died == "Worker -1 has died :(",
            "{died:?}"
        );
        assert_eq!(pool.process.next_line(), "Creating worker process");
        // Reaped by one entry or the other, never left a zombie.
        assert!(wait_until(timeout(), || !procfs::exists(live)));
        if died == "Worker -1 has died :(" {
            reaped_by_the_minus_one = true;
            break;
        }
    }
    assert!(reaped_by_the_minus_one, "{}", pool.process.stdout());
    // The dead worker's pid stays in $workers, counted as a worker: still
    // one short, hundreds of turns later, and for every replacement after.
    let last = *pool.workers(1).first().expect("one worker");
    pool.wait_for_turns(200);
    assert_eq!(live_children(pool.pid()), BTreeSet::from([last]));
    kill_9(last);
    assert_eq!(
        pool.process.next_line(),
        format!("Worker {last} has died :(")
    );
    assert_eq!(pool.process.next_line(), "Creating worker process");
    pool.wait_for_turns(200);
    assert_eq!(pool.workers(1).len(), 1);
}

/// Backs ch10-prefork-worker-pools.md#wrong-orphan-workers: `kill` the
/// original's parent and its workers live on, orphans, still answering on
/// the port, which no new server can bind, Listing 10-1 included.
#[test]
fn the_originals_workers_outlive_their_parent_and_keep_the_port() {
    let Some(php) = php() else { return };
    let mut pool = OriginalPool::start(&php, &OriginalPool::program(), &[], 2);
    let workers = pool.workers(2);
    let parent = pool.pid();
    pool.process.signal(Signal::SIGTERM);
    pool.process.wait_exit(timeout());

    // Both workers are alive, adopted by another process.
    for &pid in &workers {
        let stat =
            procfs::stat(pid).unwrap_or_else(|| panic!("worker {pid} is gone"));
        assert_ne!(stat.state, 'Z', "worker {pid}");
        assert_ne!(stat.ppid, parent, "worker {pid}");
    }
    // One of them answers a new client.
    let mut client = pool.connect();
    assert!(workers.contains(&client.read_greeting_pid()));
    client.send_line("still here?");
    assert_eq!(client.read_line(), "still here?\n");
    // The port is theirs: a new server cannot bind it.
    let err = TcpListener::bind(pool.addr).expect_err("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    conventions::assert_address_in_use_is_reported(SERVER, pool.addr);
    // Dropping `pool` kills its process group, orphans included.
}

/// Backs ch10-prefork-worker-pools.md#wrong-zero-chunk: a chunk that is just
/// `0` is false for the original's `while ($buf = fread(...))`, and the
/// worker hangs up on its client; Listing 10-1 echoes it.
#[test]
fn a_chunk_of_just_0_ends_the_originals_session_not_listing_10_1s() {
    let Some(php) = php() else { return };
    let pool = OriginalPool::start(&php, &OriginalPool::program(), &[], 2);
    let ours = Server::start(SERVER);
    let mut clients = [pool.connect(), ours.connect()];
    for client in &mut clients {
        client.read_greeting_pid();
        client.send(b"hello\n");
        assert_eq!(client.read_line(), "hello\n");
        client.send(b"0");
    }
    let [mut with_original, mut with_ours] = clients;
    // The original: the connection ends, and nothing comes back.
    with_original.expect_closed();
    // Listing 10-1: "0" comes back, and the session goes on.
    assert_eq!(with_ours.read_exact(1), b"0");
    with_ours.send(b"are you there?\n");
    assert_eq!(with_ours.read_line(), "are you there?\n");
}

/// A client's session with a pool: the greeting (its pid replaced), a line,
/// a line that means nothing to the pool, 10,000 bytes of binary; then it
/// hangs up. Returns everything it received.
fn session(mut client: Client) -> Vec<u8> {
    client.read_greeting_pid();
    let mut received = b"You are connected to process <pid>\n".to_vec();
    for line in ["hello\n", "quit\n"] {
        client.send(line.as_bytes());
        received.extend(client.read_line().into_bytes());
    }
    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    client.send(&binary);
    received.extend(client.read_exact(binary.len()));
    client.shutdown_write();
    received.extend(client.read_to_end());
    received
}

/// The interoperability of the two pools: the same client session, with the
/// original and with Listing 10-1, gets the same bytes back (but for the
/// worker's pid), and the connection ends when the client hangs up.
#[test]
fn the_same_session_gets_the_same_replies_from_the_original_and_listing_10_1() {
    let Some(php) = php() else { return };
    let pool = OriginalPool::start(&php, &OriginalPool::program(), &[], 2);
    let ours = Server::start(SERVER);
    let from_original = session(pool.connect());
    assert!(
        from_original
            .starts_with(b"You are connected to process <pid>\nhello\nquit\n")
    );
    assert_eq!(from_original.len(), 35 + 6 + 5 + 10_000);
    assert_eq!(session(ours.connect()), from_original);
}

/// Backs chapter 10's remark that the original's workers wait in poll(), not
/// in accept(): PHP's `stream_socket_accept` polls the socket first, and one
/// connection wakes every waiting worker (each one's count of voluntary
/// context switches moves), though only one of them gets it. Listing 10-1's
/// workers wait in accept(), and only one wakes (see `pool.rs`).
#[test]
fn one_connection_wakes_every_waiting_worker_of_the_original() {
    if !kernel::wchan_is_readable() {
        testkit::skip("/proc/<pid>/wchan is not readable on this machine");
        return;
    }
    let Some(php) = php() else { return };
    let pool = OriginalPool::start(
        &php,
        &OriginalPool::program(),
        &[("MAX_PROCS", "4")],
        4,
    );
    let workers = pool.workers(4);
    let in_poll = |pid: u32| {
        kernel::wchan(pid).is_some_and(|wchan| wchan.contains("poll"))
    };
    assert!(
        wait_until(timeout(), || workers.iter().all(|&pid| in_poll(pid))),
        "{:?}",
        workers
            .iter()
            .map(|&pid| kernel::wchan(pid))
            .collect::<Vec<_>>()
    );
    let before: Vec<u64> = workers.iter().map(|&pid| switches(pid)).collect();

    let mut client = pool.connect();
    client.read_greeting_pid();
    let all_woken = wait_until(timeout(), || {
        workers
            .iter()
            .zip(&before)
            .all(|(&pid, &before)| switches(pid) > before)
    });
    assert!(all_woken, "{before:?}");
}

/// The sessions of the original that chapter 10 shows: the pool's log while
/// a worker is killed, and, from a second terminal, the kill, then the
/// parent's, then a client that an orphaned worker still serves.
#[test]
fn the_originals_sessions_match_the_book() {
    let Some(php) = php() else { return };
    let mut pool = OriginalPool::start(&php, &OriginalPool::program(), &[], 2);
    let workers: Vec<u32> = pool.workers(2).into_iter().collect();
    let victim = workers[0];
    kill_9(victim);
    assert_eq!(
        pool.process.next_line(),
        format!("Worker {victim} has died :(")
    );
    assert_eq!(pool.process.next_line(), "Creating worker process");
    let workers = pool.workers(2);
    let parent = pool.pid();
    pool.process.signal(Signal::SIGTERM);
    pool.process.wait_exit(timeout());
    let mut client = pool.connect();
    let greeted_by = client.read_greeting_pid();
    assert!(workers.contains(&greeted_by));

    // Pids differ from run to run; where only they differ, the book's lines
    // are kept (and the test has checked above that they agree).
    let pids = r"(Worker |kill (-9 )?)\d+";
    let log = pool.process.stdout();
    let server = "transcripts/original-pool.console";
    Transcript::new(server)
        .command("PORT=8080 php original/php/22-worker-pool.php")
        .output(&measured::as_shown(server, &log, pids))
        .check();
    let other = format!(
        "$ kill -9 {victim}\n$ kill {parent}\n$ nc 127.0.0.1 8080\n\
         You are connected to process {greeted_by}\n"
    );
    let terminal = "transcripts/original-orphans.console";
    Transcript::new(terminal)
        .output(&measured::as_shown(terminal, &other, pids))
        .check();
}
