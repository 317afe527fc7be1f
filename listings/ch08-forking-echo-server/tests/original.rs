//! The original's limited forking echo server
//! (`original/php/20-limited-forking-echo-server.php`), run with the PHP
//! command-line interpreter: what chapter 8 says of it, and how Listing 8-1
//! answers the same session.
//!
//! The server and the children it forks stay in the process group the kit
//! gives it, so dropping the `Process` kills them all.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::php::{Original, Php, php};
use testkit::{
    Client, Process, Server, Transcript, kernel, procfs, timeout, unused_port,
    wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-forking-echo-server");

/// The original's server, on loopback and a free port instead of
/// 0.0.0.0:8080.
fn original_server(port: u16) -> Original {
    Original::of(&["20-limited-forking-echo-server"]).edit(
        "tcp://0.0.0.0:8080",
        &format!("tcp://127.0.0.1:{port}"),
        1,
    )
}

/// The original, running and listening.
struct Running {
    process: Process,
    addr: SocketAddr,
}

impl Running {
    fn start(php: &Php, program: &Original, port: u16) -> Running {
        let process = php.spawn(program, &[]);
        // Printed once the socket listens.
        process.wait_for_stdout("Waiting…\n");
        Running {
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

    /// How many status lines (`"\t<n> connected\r"`) it has printed.
    fn status_lines(&self) -> usize {
        self.process.stdout().matches(" connected\r").count()
    }

    /// Waits until the latest status line says `count` children.
    fn wait_for_children(&self, count: usize) {
        let wanted = format!("\t{count} connected\r");
        let shown =
            wait_until(timeout(), || self.process.stdout().ends_with(&wanted));
        assert!(shown, "never printed {wanted:?}");
    }
}

fn start(php: &Php) -> Running {
    let port = unused_port();
    Running::start(php, &original_server(port), port)
}

/// How many times `pid` went to sleep, and how much CPU it used, in `span`.
fn sleeps_and_cpu(pid: u32, span: Duration) -> (u64, Duration) {
    let before = kernel::voluntary_switches(pid).expect("the server runs");
    let used = procfs::cpu_used_during(pid, span);
    let after = kernel::voluntary_switches(pid).expect("the server runs");
    (after - before, used)
}

/// Backs ch08-forking-servers.md#wrong-select-timeout-and-busy-loop: with
/// nothing to do, the original's parent wakes up every 500 microseconds
/// (not milliseconds) and prints a status line each time; with every child
/// busy and a client waiting, it does not sleep at all, but goes round its
/// loop as fast as the processor lets it, printing as it goes. The margins
/// are wide: the machine may be busy with other work.
#[test]
fn the_original_polls_when_idle_and_spins_when_full() {
    let Some(php) = php() else { return };
    let server = start(&php);
    let span = Duration::from_secs(1);

    let lines_before = server.status_lines();
    let (idle_sleeps, _) = sleeps_and_cpu(server.pid(), span);
    let idle_lines = server.status_lines() - lines_before;
    // Up to 2000 a second; a sleep of 500 milliseconds would allow 2.
    assert!(
        idle_sleeps > 200,
        "woke up only {idle_sleeps} times in {span:?}"
    );
    assert!(idle_lines > 200, "only {idle_lines} status lines");

    let mut first = server.connect();
    let mut second = server.connect();
    first.read_greeting_pid();
    second.read_greeting_pid();
    server.wait_for_children(2);
    // A third client: accepted by the kernel, not by the server.
    let mut third = server.connect();

    let lines_before = server.status_lines();
    let (full_sleeps, used) = sleeps_and_cpu(server.pid(), span);
    let full_lines = server.status_lines() - lines_before;
    // It hardly ever sleeps (only when the pipe of its stdout is full, if
    // the test is slow to read it), so it runs whenever it gets a processor.
    assert!(
        full_sleeps * 4 < idle_sleeps,
        "slept {full_sleeps} times while full, {idle_sleeps} while idle"
    );
    assert!(
        used > span / 10,
        "used only {used:?} of CPU in {span:?} while full"
    );
    assert!(full_lines > 1000, "only {full_lines} status lines");
    assert!(third.is_silent_for(Duration::from_millis(100)));

    // A child ends: the third is served at last, and the spinning stops.
    drop(first);
    third.read_greeting_pid();
}

/// Backs ch08-forking-servers.md#wrong-forking-server-children: the child's
/// `while ($buf = fread(...))` takes the string "0" for false.
#[test]
fn a_lone_zero_ends_the_original_childs_session() {
    let Some(php) = php() else { return };
    let server = start(&php);
    let mut client = server.connect();
    let child = client.read_greeting_pid();
    client.send(b"hello\n");
    assert_eq!(client.read_line(), "hello\n");
    client.send(b"0");
    // Not echoed; the child closes its connection and exits. (The client
    // sees the end only because the parent has no copy of this connection
    // left: see the next tests.)
    assert!(wait_until(timeout(), || !procfs::exists(child)));
    server.connect().read_greeting_pid();
    client.expect_closed();
}

/// Backs ch08-forking-servers.md#wrong-forking-server-children: a child
/// killed by a signal is reaped, but its pid stays in `$children`, because
/// `pcntl_wifexited()` is false for it. After two such deaths the server
/// counts two children that do not exist, and serves no one.
#[test]
fn killed_children_keep_their_slots_in_the_original() {
    let Some(php) = php() else { return };
    let server = start(&php);
    for _ in 0..2 {
        let mut client = server.connect();
        let child = client.read_greeting_pid();
        kill(Pid::from_raw(child as i32), Signal::SIGKILL).expect("kill");
        // Reaped by the parent's pcntl_waitpid: not even a zombie is left.
        assert!(wait_until(timeout(), || !procfs::exists(child)));
    }
    server.wait_for_children(2);
    assert!(procfs::children(server.pid()).is_empty());

    let mut third = server.connect();
    assert!(third.is_silent_for(Duration::from_millis(500)));
    assert!(
        procfs::children(server.pid()).is_empty(),
        "a child was forked"
    );
    server.wait_for_children(2);
}

/// Backs ch08-forking-servers.md#wrong-forking-server-children: each child
/// keeps the listening socket, and the parent keeps the latest client's
/// connection until the next accept, so a client whose child has died sees
/// its connection close only when someone else connects.
#[test]
fn the_original_keeps_the_descriptors_it_should_close() {
    let Some(php) = php() else { return };
    let server = start(&php);
    let sockets = |pid: u32| {
        (0..64)
            .filter_map(|fd| procfs::fd_target(pid, fd))
            .filter(|target| target.to_string_lossy().starts_with("socket:["))
            .count()
    };
    let mut first = server.connect();
    let child = first.read_greeting_pid();
    assert_eq!(sockets(child), 2, "the listener and the client");
    assert_eq!(sockets(server.pid()), 2, "the listener and the client");

    kill(Pid::from_raw(child as i32), Signal::SIGKILL).expect("kill");
    assert!(wait_until(timeout(), || !procfs::exists(child)));
    assert!(first.is_silent_for(Duration::from_millis(300)), "closed");

    // The next accept replaces the parent's copy, which closes it.
    let mut second = server.connect();
    second.read_greeting_pid();
    first.expect_closed();
}

/// Backs ch08-forking-servers.md#wrong-forking-server-children: the child
/// ignores what `fwrite` returns. When its client stops reading for longer
/// than `default_socket_timeout` (60 seconds; 1 here, so that the test is
/// quick), `fwrite` gives up with a notice, and the child reads on: the
/// bytes it could not send are lost.
#[test]
fn a_write_that_times_out_loses_data_in_the_original() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let program = original_server(port).edit(
        "<?php\n",
        "<?php ini_set('default_socket_timeout', '1');\n",
        1,
    );
    let server = Running::start(&php, &program, port);
    let mut client = server.connect();
    let child = client.read_greeting_pid();

    // More than the socket buffers hold, with no "0" in it. The client
    // sends it all but reads nothing yet.
    let data = vec![b'a'; 32 << 20];
    let mut writer = client.stream().try_clone().expect("clone");
    let sent = data.len();
    let sender = std::thread::spawn(move || {
        writer.write_all(&data)?;
        writer.shutdown(Shutdown::Write)
    });
    server
        .process
        .wait_for_stderr("PHP Notice:  fwrite(): Send of ");
    assert!(
        server
            .process
            .stderr()
            .contains("failed with errno=11 Resource temporarily unavailable"),
        "{}",
        server.process.stderr()
    );

    // Now read everything the child sends back, until it has exited and a
    // second client has made the parent drop its copy of the connection.
    let mut reader = client.stream().try_clone().expect("clone");
    let receiver = std::thread::spawn(move || {
        let mut echoed = Vec::new();
        reader.read_to_end(&mut echoed).map(|_| echoed)
    });
    sender.join().expect("sender").expect("send");
    assert!(wait_until(timeout(), || !procfs::exists(child)));
    server.connect().read_greeting_pid();
    let echoed = receiver.join().expect("receiver").expect("receive");
    assert!(
        echoed.len() < sent,
        "all {sent} bytes came back: nothing was lost"
    );
    assert!(echoed.iter().all(|&byte| byte == b'a'));
}

/// How many clients the kernel queues for `addr` once every slot is taken:
/// it completes their handshake, and drops the SYNs of the rest, whose
/// `connect` does not finish. One at a time, so that each is queued (or
/// dropped) before the next tries.
fn queued_clients(addr: SocketAddr, tries: usize) -> Vec<std::net::TcpStream> {
    let limit = Duration::from_millis(300);
    (0..tries)
        .filter_map(|_| std::net::TcpStream::connect_timeout(&addr, limit).ok())
        .collect()
}

/// The original listens with PHP's default backlog for
/// `stream_socket_server`, 32, Listing 8-1 with std's, 128; a backlog of n
/// holds n + 1 clients.
#[test]
fn with_every_slot_taken_the_original_queues_33_clients_and_listing_8_1_129() {
    let Some(php) = php() else { return };
    let original = start(&php);
    let mut busy = vec![original.connect(), original.connect()];
    for client in &mut busy {
        client.read_greeting_pid();
    }
    original.wait_for_children(2);
    assert_eq!(queued_clients(original.addr, 36).len(), 33);

    let ours =
        Server::start_with(SERVER, ["127.0.0.1:0"], &[("MAX_PROCS", "2")]);
    let mut busy = vec![ours.connect(), ours.connect()];
    for client in &mut busy {
        client.read_greeting_pid();
    }
    assert_eq!(queued_clients(ours.addr(), 132).len(), 129);
}

/// What a terminal shows of `output`: `\r` goes back to the start of the
/// line, where the next text overwrites what was there, and tabs stop
/// every 8 columns.
fn as_a_terminal_shows(output: &str) -> String {
    let mut shown = String::new();
    let mut line: Vec<char> = Vec::new();
    let mut column = 0;
    for ch in output.chars() {
        match ch {
            '\n' => {
                shown.extend(line.drain(..));
                shown.push('\n');
                column = 0;
            }
            '\r' => column = 0,
            // A tab moves to the next stop, over what is there.
            '\t' => {
                column += 8 - column % 8;
                while line.len() < column {
                    line.push(' ');
                }
            }
            _ => {
                if column < line.len() {
                    line[column] = ch;
                } else {
                    line.push(ch);
                }
                column += 1;
            }
        }
    }
    let rest: String = line.into_iter().collect();
    if !rest.trim().is_empty() {
        shown.push_str(rest.trim_end());
        shown.push('\n');
    }
    shown
}

#[test]
fn a_terminal_shows_the_latest_status_line_only() {
    assert_eq!(
        as_a_terminal_shows(
            "Waiting\n\t0 connected\r\t0 connected\rStarting a new child\n\t1 connected\r"
        ),
        "Waiting\nStarting a new child\n        1 connected\n"
    );
    // A tab moves to the next stop, and keeps what it passes over.
    assert_eq!(as_a_terminal_shows("abcdefghij\r\tX"), "abcdefghXj\n");
    // What is not overwritten stays.
    assert_eq!(
        as_a_terminal_shows("\t0 connected\rStart\n"),
        "Start   0 connected\n"
    );
}

/// One session, as the test sees it: the greeting's pid, then each chunk
/// the client sent with what came back before the connection went quiet
/// or closed (`None`: closed).
fn session(mut client: Client) -> (u32, Vec<(&'static str, Option<String>)>) {
    let pid = client.read_greeting_pid();
    let mut exchanges = Vec::new();
    // Lines, as typed into nc, then a lone "0" with no newline (as when
    // `nc` sends what was typed before Ctrl-D).
    for sent in ["hello\n", "0\n", "0"] {
        client.send(sent.as_bytes());
        // Wait for a reply or the end of the connection. (Nothing is left
        // in the client's buffer, so peeking at the socket is enough.)
        let mut first_byte = [0u8; 1];
        let reply = match client.stream().peek(&mut first_byte) {
            Ok(0) => None,
            Ok(_) => Some(
                String::from_utf8_lossy(&client.read_exact(sent.len()))
                    .into_owned(),
            ),
            Err(err) => panic!("no reply to {sent:?}: {err}"),
        };
        exchanges.push((sent, reply));
    }
    (pid, exchanges)
}

/// The same session with the original and with Listing 8-1: the same
/// greeting (each with its child's pid) and the same echo, until the client
/// sends a lone "0": Listing 8-1 echoes it, the original hangs up.
#[test]
fn the_same_session_with_the_original_and_with_listing_8_1() {
    let Some(php) = php() else { return };
    let original = start(&php);
    let ours =
        Server::start_with(SERVER, ["127.0.0.1:0"], &[("MAX_PROCS", "2")]);

    // A second client connects meanwhile. (The original's parent keeps a
    // copy of the latest connection it accepted, so the first client would
    // not see its connection close before another client is accepted.)
    let in_session = |client: Client, mut other: Client| {
        other.read_greeting_pid();
        session(client)
    };
    let (original_child, with_original) =
        in_session(original.connect(), original.connect());
    let (our_child, with_ours) = in_session(ours.connect(), ours.connect());
    assert_ne!(original_child, original.pid());
    assert_ne!(our_child, ours.pid());
    let echoed = |sent: &'static str| (sent, Some(sent.to_string()));
    assert_eq!(
        with_original,
        [echoed("hello\n"), echoed("0\n"), ("0", None)]
    );
    assert_eq!(with_ours, [echoed("hello\n"), echoed("0\n"), echoed("0")]);
}

/// The console session of the original that chapter 8 shows, from a real
/// run, as a terminal shows it: its server with three clients, the third
/// waiting until the first leaves.
#[test]
fn the_original_session_matches_the_book() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let server = Running::start(&php, &original_server(port), port);
    let mut first = server.connect();
    let mut second = server.connect();
    first.read_greeting_pid();
    second.read_greeting_pid();
    server.wait_for_children(2);
    let mut third = server.connect();
    assert!(third.is_silent_for(Duration::from_millis(100)));

    first.send_line("hello");
    assert_eq!(first.read_line(), "hello\n");
    drop(first);
    third.read_greeting_pid();
    server.wait_for_children(2);

    Transcript::new("transcripts/original-server.console")
        .command("php limited_forking_echo_server.php")
        .output(&as_a_terminal_shows(&server.process.stdout()))
        .show_port(port, 8080)
        .check();
}
