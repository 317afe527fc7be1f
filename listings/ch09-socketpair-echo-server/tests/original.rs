//! The original's socket-pair echo server (`original/php/21-...`), run with
//! PHP, doing what chapter 9 says it does; and the same sessions with the
//! original and with Listing 9-1, side by side.
//!
//! The original listens on `0.0.0.0` and the port in `PORT`: each test sets
//! `PORT` to a free port and makes one declared edit, loopback instead of
//! every address.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::php::{Original, Php, php};
use testkit::{
    Client, Process, Server, Transcript, kernel, procfs, timeout, wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-socketpair-echo-server");

/// The original server, started with `PORT` set to a free port and `env`
/// added, past its first line (`Waiting…`).
struct OriginalServer {
    process: Process,
    addr: SocketAddr,
}

impl OriginalServer {
    fn start(php: &Php, env: &[(&str, &str)]) -> OriginalServer {
        let program = Original::of(&["21-socketpair-echo-server"]).edit(
            "tcp://0.0.0.0:",
            "tcp://127.0.0.1:",
            1,
        );
        let port = testkit::unused_port();
        let port_text = port.to_string();
        let mut env = env.to_vec();
        env.push(("PORT", &port_text));
        let mut process = php.spawn(&program, &env);
        assert_eq!(process.next_line(), "Waiting…");
        OriginalServer {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    fn next_line(&mut self) -> String {
        self.process.next_line()
    }

    /// How many times it has printed `line` so far.
    fn printed(&self, line: &str) -> usize {
        self.process.stdout().lines().filter(|l| *l == line).count()
    }

    /// Connects a client, reads its greeting, and checks the two lines the
    /// parent prints for it; returns the client and the pid of its child.
    fn serve(&mut self, connected: usize) -> (Client, u32) {
        let mut client = self.connect();
        let pid = client.read_greeting_pid();
        assert_eq!(
            self.next_line(),
            format!("Starting a new child process for {}", client.local_addr())
        );
        assert_eq!(self.next_line(), format!("{connected} connected"));
        (client, pid)
    }
}

/// Whether `pid` is a zombie child of `parent`: it has exited, and nobody
/// has waited for it.
fn is_zombie_child_of(pid: u32, parent: u32) -> bool {
    procfs::stat(pid)
        .is_some_and(|stat| stat.state == 'Z' && stat.ppid == parent)
}

/// Backs ch09-talking-to-children-over-a-socket-pair.md#wrong-never-reaped:
/// the only `pcntl_waitpid` is in the branch for `'0'`, which never runs, so
/// every child the original serves is left a zombie; the slot itself is
/// freed, because PHP 8 finds `"4242" == "4242\n"`.
#[test]
fn the_original_never_reaps_a_child() {
    let Some(php) = php() else { return };
    let mut server = OriginalServer::start(&php, &[]);
    let mut served = BTreeSet::new();
    for _ in 0..3 {
        let (mut client, pid) = server.serve(1);
        client.send_line("hello");
        assert_eq!(client.read_line(), "hello\n");
        client.send_line("quit");
        client.expect_closed();
        // The child wrote "<pid>\n" to the pipe, and the parent freed its slot.
        assert_eq!(server.next_line(), "0 connected");
        // But nobody waits for the child: it stays a zombie of the server.
        assert!(
            wait_until(timeout(), || is_zombie_child_of(pid, server.pid())),
            "child {pid}: {:?}",
            procfs::stat(pid)
        );
        served.insert(pid);
    }
    // Three clients later, the parent has gone round its loop again and
    // again, and all three children are still zombies.
    let zombies: BTreeSet<u32> = procfs::zombie_children(server.pid())
        .iter()
        .map(|child| child.pid)
        .collect();
    assert_eq!(zombies, served);
}

/// Backs ch09-talking-to-children-over-a-socket-pair.md#wrong-never-reaped:
/// what the parent's `fgets($pipe[0])` returns is the child's line with its
/// newline, never `'0'`; PHP 8 finds it equal to the pid all the same; and
/// `unset($chilren[$i])`, the misspelt name, only warns and removes nothing.
#[test]
fn the_pipe_gives_the_pid_with_its_newline_and_the_misspelt_unset_does_nothing()
{
    let Some(php) = php() else { return };
    let run = php.eval(
        r#"
        $pipe = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        fwrite($pipe[1], "4242\n");
        $result = fgets($pipe[0]);
        echo json_encode([$result, $result === '0', (string)4242 == (string)$result]), "\n";
        $children = [4242, 4243];
        foreach ($children as $i => $pid) {
            unset($chilren[$i]);
        }
        echo count($children), "\n";
        "#,
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "[\"4242\\n\",false,true]\n2\n");
    // PHP 8 warns about the misspelt name, once for each child, and goes on.
    assert_eq!(
        run.stderr,
        "PHP Warning:  Undefined variable $chilren in Command line code on line 8\n".repeat(2)
    );
}

/// Backs ch09-talking-to-children-over-a-socket-pair.md#wrong-spins-when-full:
/// with both slots busy, a third client makes the listener readable; the
/// original does not accept, and `stream_select` returns at once, again and
/// again, printing `2 connected` every time. Its limit is a literal 2: it
/// does not read `MAX_PROCS`, set to 3 here.
#[test]
fn the_original_spins_while_both_slots_are_busy() {
    let Some(php) = php() else { return };
    let mut server = OriginalServer::start(&php, &[("MAX_PROCS", "3")]);
    let (mut first, _) = server.serve(1);
    let (_second, _) = server.serve(2);
    // Two clients, nobody waiting: the parent sleeps in stream_select().
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(300));

    let mut third = server.connect();
    let before = server.printed("2 connected");
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    let turns = server.printed("2 connected") - before;
    // A whole CPU, where the machine gives it one; 10% is a generous margin.
    assert!(
        used >= Duration::from_millis(100),
        "the parent used only {used:?} in 1s"
    );
    assert!(turns >= 1000, "only {turns} turns of the loop in 1s");
    // And all that time the third client was not served: no third child.
    assert!(third.is_silent_for(Duration::from_millis(10)));
    assert_eq!(
        server
            .process
            .stdout()
            .matches("Starting a new child process")
            .count(),
        2
    );

    // A slot frees: the third client is served at last, and the spin stops.
    first.send_line("quit");
    first.expect_closed();
    third.read_greeting_pid();
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(300));
}

/// Backs chapter 9's "A child that crashes is never noticed": a child killed
/// before it writes its pid never frees its slot, since every process still
/// holds the shared `$pipe[1]` and the parent never reads end of file. After
/// two such deaths the original serves nobody.
#[test]
fn children_killed_before_they_report_keep_their_slots_for_good() {
    let Some(php) = php() else { return };
    let mut server = OriginalServer::start(&php, &[]);
    for connected in 1..=2 {
        let (_client, pid) = server.serve(connected);
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)
            .expect("kill -9 the child");
        assert!(wait_until(timeout(), || is_zombie_child_of(
            pid,
            server.pid()
        )));
    }
    let mut third = server.connect();
    // The parent goes round its loop a thousand times (it prints a line each
    // time), and never accepts the third client.
    let before = server.printed("2 connected");
    assert!(wait_until(timeout(), || server.printed("2 connected")
        >= before + 1000));
    assert!(third.is_silent_for(Duration::from_millis(10)));
    assert_eq!(
        server
            .process
            .stdout()
            .matches("Starting a new child process")
            .count(),
        2
    );
}

/// The bytes a client receives in a session: its greeting with the pid
/// replaced, then everything else until the server closes.
fn session(client: &mut Client, sent: &[u8]) -> String {
    client.read_greeting_pid();
    client.send(sent);
    client.shutdown_write();
    let rest = String::from_utf8_lossy(&client.read_to_end()).into_owned();
    format!("You are connected to process <pid>\n{rest}")
}

/// Backs ch09-talking-to-children-over-a-socket-pair.md#wrong-line-of-zero:
/// a last line that is just `0`, with no newline, is false for the
/// original's `while ($line = fgets(...))`, and is dropped; a line `0\n` is
/// not. Listing 9-1 echoes both.
#[test]
fn a_last_line_of_just_0_is_dropped_by_the_original_not_by_listing_9_1() {
    let Some(php) = php() else { return };
    let original = OriginalServer::start(&php, &[]);
    let ours = Server::start(SERVER);
    let sent = b"0\nhello\n0";
    assert_eq!(
        session(&mut original.connect(), sent),
        "You are connected to process <pid>\n0\nhello\n"
    );
    assert_eq!(
        session(&mut ours.connect(), sent),
        "You are connected to process <pid>\n0\nhello\n0"
    );
}

/// Backs chapter 9's remark that the original's `fgets($conn, 4096)` returns
/// at most 4095 bytes: a line of 4095 bytes and `quit` behind it are two
/// lines to the original, and `quit` ends the session.
#[test]
fn the_originals_fgets_cuts_a_long_line_after_4095_bytes() {
    let Some(php) = php() else { return };
    let server = OriginalServer::start(&php, &[]);
    let mut client = server.connect();
    client.read_greeting_pid();
    let long = "x".repeat(4095);
    client.send(format!("{long}quit\n").as_bytes());
    assert_eq!(String::from_utf8_lossy(&client.read_to_end()), long);
}

/// The interoperability of the two servers: the same client session, with
/// the original and with Listing 9-1, gets the same bytes back (but for the
/// child's pid), and ends with an orderly close after `quit`.
#[test]
fn the_same_session_gets_the_same_replies_from_the_original_and_listing_9_1() {
    let Some(php) = php() else { return };
    let original = OriginalServer::start(&php, &[]);
    let ours = Server::start(SERVER);
    let sent = b"hello\nworld\n  quit \r\nnot echoed\n";
    let from_original = session(&mut original.connect(), sent);
    let from_ours = session(&mut ours.connect(), sent);
    assert_eq!(
        from_original,
        "You are connected to process <pid>\nhello\nworld\n"
    );
    assert_eq!(from_ours, from_original);
}

/// The session of the original that chapter 9 shows: the same as Listing
/// 9-1's, two clients, the first says `hello` and `quit`, the second hangs
/// up. The clients see what they see with Listing 9-1 (see above).
#[test]
fn the_originals_session_matches_the_book() {
    let Some(php) = php() else { return };
    let mut server = OriginalServer::start(&php, &[]);
    let mut log = String::from("Waiting…\n");
    let (mut typed, _) = server.serve(1);
    log.push_str(&format!(
        "Starting a new child process for {}\n1 connected\n",
        typed.local_addr()
    ));
    let (other, _) = server.serve(2);
    log.push_str(&format!(
        "Starting a new child process for {}\n2 connected\n",
        other.local_addr()
    ));
    typed.send_line("hello");
    assert_eq!(typed.read_line(), "hello\n");
    typed.send_line("quit");
    typed.expect_closed();
    drop(typed);
    log.push_str(&format!("{}\n", server.next_line()));
    drop(other);
    log.push_str(&format!("{}\n", server.next_line()));
    assert!(log.ends_with("1 connected\n0 connected\n"), "{log}");

    Transcript::new("transcripts/original-server.console")
        .command("PORT=8080 php original/php/21-socketpair-echo-server.php")
        .output(&log)
        .check();
}
