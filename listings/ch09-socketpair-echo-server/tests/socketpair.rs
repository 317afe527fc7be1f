//! Listing 9-1 behaves as chapter 9 says: a child per client, at most
//! MAX_PROCS; every child tells the parent over its own socket pair that it
//! is done, and the parent, asleep in poll(), frees the slot at once; `quit`
//! ends a session with an orderly close.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{Client, Server, Transcript, conventions, kernel, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch09-socketpair-echo-server");

/// How soon a waiting client must be served once a slot is free. A parent
/// that woke up to look, instead of being told, would need its polling
/// interval on top.
const SLOT_FREED_WITHIN: Duration = Duration::from_secs(1);

/// Starts the server with `max_procs` slots on an ephemeral port.
fn start(max_procs: usize) -> Server {
    Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs.to_string())],
    )
}

/// The pid at the start of a `child <pid> ...` line of the server's log.
fn child_of(line: &str) -> u32 {
    line.strip_prefix("child ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("expected `child <pid> ...`, got {line:?}"))
}

#[test]
fn a_child_greets_with_its_pid_and_echoes_lines_exactly() {
    let mut server = start(2);
    let mut client = server.connect();
    let pid = client.read_greeting_pid();
    assert!(
        procfs::live_children(server.pid())
            .iter()
            .any(|child| child.pid == pid)
    );
    assert_eq!(
        server.next_line(),
        format!("child {pid} serves {} (1 of 2 busy)", client.local_addr())
    );

    client.send(b"hello\n");
    assert_eq!(client.read_line(), "hello\n");
    // Any bytes at all, up to the newline; 10,000 of them come back in three
    // pieces of at most 4096 bytes, which is what the child counts as lines.
    let mut long: Vec<u8> = (0..=255u8)
        .cycle()
        .filter(|&b| b != b'\n')
        .take(10_000)
        .collect();
    long.push(b'\n');
    client.send(&long);
    assert_eq!(client.read_exact(long.len()), long);

    client.shutdown_write();
    client.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("child {pid} done: client hung up after 4 lines (0 of 2 busy)")
    );
}

#[test]
fn quit_ends_the_session_with_an_orderly_close() {
    // telnet ends lines with \r\n, and spaces around the word do not matter.
    for quit in ["quit\n", "quit\r\n", "  quit \n"] {
        let mut server = start(2);
        let mut client = server.connect();
        let pid = client.read_greeting_pid();
        client.send(format!("hello\n{quit}").as_bytes());
        assert_eq!(client.read_line(), "hello\n");
        // End of file, not an error: the child shut its side down cleanly.
        client.expect_closed();
        drop(client);

        server.next_line();
        assert_eq!(
            server.next_line(),
            format!("child {pid} done: client quit after 1 line (0 of 2 busy)")
        );
        // Reaped: not even a zombie is left.
        assert!(!procfs::exists(pid), "child {pid} was not reaped");
    }
}

#[test]
fn quit_with_more_data_behind_it_still_closes_without_a_reset() {
    // The client sends far more than the child reads before it sees `quit`.
    // Closing with those bytes unread would send a reset, and the client's
    // read would fail with "Connection reset by peer" instead of ending.
    let server = start(2);
    let mut client = server.connect();
    client.read_greeting_pid();
    let mut burst = b"hello\nquit\n".to_vec();
    burst.extend(std::iter::repeat_n(b'x', 256 * 1024));
    client.send(&burst);
    assert_eq!(client.read_line(), "hello\n");
    client.expect_closed();
}

#[test]
fn what_the_client_sends_after_quit_is_read_and_dropped_not_reset() {
    // After the child's end of file, the client may still be sending (it has
    // not seen the FIN yet). The child reads on until the client closes; had
    // it closed at once, the kernel would answer those bytes with a reset and
    // the client's socket would carry an error.
    let mut server = start(2);
    let mut client = server.connect();
    let pid = client.read_greeting_pid();
    client.send_line("quit");
    client.expect_closed();
    client.send_line("are you still there?");
    let reset = testkit::wait_until(Duration::from_millis(300), || {
        client.stream().take_error().ok().flatten().is_some()
    });
    assert!(!reset, "the late line was answered with a reset");
    drop(client);
    server.next_line();
    assert_eq!(
        server.next_line(),
        format!("child {pid} done: client quit after 0 lines (0 of 2 busy)")
    );
}

#[test]
fn a_slot_is_freed_as_soon_as_a_child_ends_and_the_parent_never_spins() {
    let mut server = start(1);
    let mut first = server.connect();
    let first_pid = first.read_greeting_pid();
    server.next_line();

    // The only slot is busy: the second client waits in the listen queue.
    let mut second = server.connect();
    assert!(second.is_silent_for(Duration::from_millis(300)));
    // Meanwhile the parent sleeps in poll(): no CPU, and no wakeups, which a
    // parent that looked for finished children every so often would have. It
    // does not watch the listener while it is full, so a waiting client
    // cannot wake it either.
    kernel::assert_asleep_during(server.pid(), Duration::from_millis(500));
    assert_eq!(procfs::stat(server.pid()).map(|stat| stat.state), Some('S'));

    first.send_line("quit");
    first.expect_closed();
    drop(first);
    let ended = Instant::now();
    let second_pid = second.read_greeting_pid();
    let waited = ended.elapsed();
    assert!(
        waited < SLOT_FREED_WITHIN,
        "the second client waited {waited:?}"
    );
    assert_ne!(second_pid, first_pid);
    assert_eq!(
        server.next_line(),
        format!(
            "child {first_pid} done: client quit after 0 lines (0 of 1 busy)"
        )
    );
}

#[test]
fn children_that_end_together_are_all_accounted_for() {
    let mut server = start(6);
    let mut clients: Vec<Client> = (0..6).map(|_| server.connect()).collect();
    let pids: BTreeSet<u32> =
        clients.iter_mut().map(Client::read_greeting_pid).collect();
    for _ in 0..6 {
        server.next_line();
    }

    // All six say quit and hang up at once.
    for client in &mut clients {
        client.send_line("quit");
    }
    drop(clients);

    let done: Vec<String> = (0..6).map(|_| server.next_line()).collect();
    let reported: BTreeSet<u32> =
        done.iter().map(|line| child_of(line)).collect();
    assert_eq!(reported, pids, "{done:#?}");
    for line in &done {
        assert!(line.contains(" done: client quit after 0 lines "), "{line}");
    }
    assert!(done[5].ends_with("(0 of 6 busy)"), "{done:#?}");
    assert!(procfs::children(server.pid()).is_empty());

    // Every slot is free again: six new clients are served at once.
    let mut again: Vec<Client> = (0..6).map(|_| server.connect()).collect();
    for client in &mut again {
        client.read_greeting_pid();
    }
}

#[test]
fn a_child_killed_before_it_reports_still_frees_its_slot() {
    // A crashed child says nothing, but its end of the pair is closed all the
    // same: the kernel closes a dead process's descriptors.
    let mut server = start(1);
    let mut first = server.connect();
    let pid = first.read_greeting_pid();
    server.next_line();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL)
        .expect("kill -9 the child");
    assert_eq!(
        server.next_line(),
        format!(
            "child {pid} ended without a report (killed by SIGKILL) (0 of 1 busy)"
        )
    );
    let mut second = server.connect();
    second.read_greeting_pid();
}

/// The sockets `pid` has open, by inode (`socket:[12345]`). Other descriptors
/// (0 to 2, and whatever cargo's test runner passes down) do not matter here.
fn sockets(pid: u32) -> BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the descriptors")
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with("socket:"))
        .collect()
}

#[test]
fn each_child_holds_only_its_client_and_its_end_of_its_pair() {
    let server = start(3);
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    let pids: Vec<u32> =
        clients.iter_mut().map(Client::read_greeting_pid).collect();
    // The parent: the listener and its end of each child's pair. A child can
    // greet its client before the parent, back from fork(), has closed its
    // copies of that client and of the child's end: wait for that.
    let settled = testkit::wait_until(testkit::timeout(), || {
        sockets(server.pid()).len() == 1 + 3
    });
    let parents = sockets(server.pid());
    assert!(settled, "the parent holds {parents:?}");
    // A child: its client and its own end of its own pair. Not the listener,
    // and none of the parent's ends: it closed them after fork().
    for pid in pids {
        let childs = sockets(pid);
        assert_eq!(childs.len(), 2, "child {pid}: {childs:?}");
        assert!(childs.is_disjoint(&parents), "child {pid}: {childs:?}");
    }
    // The parent never starts a thread, which is what makes fork() safe.
    assert_eq!(kernel::threads(server.pid()), 1);
}

/// Starts the server as the book's session does: no address, so that it
/// listens on loopback and the port in `PORT`, here a free one.
fn start_without_an_address() -> Server {
    let port = testkit::unused_port().to_string();
    Server::start_with(SERVER, std::iter::empty::<&str>(), &[("PORT", &port)])
}

#[test]
fn without_an_address_it_listens_on_loopback_and_the_port_in_port() {
    conventions::assert_without_an_address_it_listens_on_loopback_and_port(
        SERVER,
    );
}

#[test]
fn session_matches_the_book() {
    let mut server = start_without_an_address();
    let mut typed = server.connect();
    let mut other = server.connect();
    let pid = typed.read_greeting_pid();
    other.read_greeting_pid();
    let mut log = format!("listening on {}\n", server.addr());
    log.push_str(&format!("{}\n{}\n", server.next_line(), server.next_line()));

    typed.send_line("hello");
    let echoed = typed.read_line();
    typed.send_line("quit");
    typed.expect_closed();
    drop(typed);
    log.push_str(&format!("{}\n", server.next_line()));
    drop(other);
    log.push_str(&format!("{}\n", server.next_line()));

    Transcript::new("transcripts/server.console")
        .command("cargo run -p ch09-socketpair-echo-server")
        .output(&log)
        .show_port(server.port(), 8080)
        .check();
    // What the person typing into nc sees: their lines and the replies.
    Transcript::new("transcripts/nc.console")
        .command("nc 127.0.0.1 8080")
        .output(&format!(
            "You are connected to process {pid}\nhello\n{echoed}quit\n"
        ))
        .check();
}

#[test]
fn a_bad_max_procs_is_refused() {
    let absurd = "99999999999999999999999";
    conventions::assert_bad_max_procs_are_refused(
        SERVER,
        &["0", "-1", "two", "", " 2", absurd],
    );
}

#[test]
fn a_max_procs_that_is_not_text_is_refused_too() {
    conventions::assert_a_max_procs_that_is_not_text_is_refused(SERVER);
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = start(1);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"], &["--help"]],
        "usage: ch09-socketpair-echo-server [ADDR]",
    );
}
