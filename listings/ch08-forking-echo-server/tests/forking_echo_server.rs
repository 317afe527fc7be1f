//! Listing 8-1 behaves as chapter 8 says: a child per client, at most
//! MAX_PROCS at a time, byte-exact echo, every child reaped, and a parent
//! that sleeps while it waits.

use std::io::Write;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::{
    Client, Server, Transcript, conventions, kernel, procfs, timeout,
    wait_until,
};

const SERVER: &str = env!("CARGO_BIN_EXE_ch08-forking-echo-server");

/// Starts the server with MAX_PROCS set and reads its first two lines.
fn start(max_procs: usize) -> Server {
    let max_procs = max_procs.to_string();
    let mut server = Server::start_with(
        SERVER,
        ["127.0.0.1:0"],
        &[("MAX_PROCS", &max_procs)],
    );
    assert_eq!(server.next_line(), format!("client slots: {max_procs}"));
    server
}

#[test]
fn each_client_is_greeted_by_a_child_of_the_server() {
    let mut server = start(2);
    let mut first = server.connect();
    let mut second = server.connect();
    let first_pid = first.read_greeting_pid();
    let second_pid = second.read_greeting_pid();
    assert_ne!(first_pid, second_pid);
    for pid in [first_pid, second_pid] {
        assert_ne!(pid, server.pid());
        let child = procfs::stat(pid).expect("the child runs");
        assert_eq!(child.ppid, server.pid(), "{pid} is not the server's child");
    }
    assert_eq!(
        server.next_line(),
        format!(
            "child {first_pid} serves {} (1 of 2 busy)",
            first.local_addr()
        )
    );
    assert_eq!(
        server.next_line(),
        format!(
            "child {second_pid} serves {} (2 of 2 busy)",
            second.local_addr()
        )
    );
}

#[test]
fn echo_is_byte_exact_for_binary_data() {
    let server = start(2);
    let mut client = server.connect();
    client.read_greeting_pid();
    // A megabyte of every byte value in a scrambled order: zeros, newlines,
    // invalid UTF-8, and chunks that are just "0". Written by another
    // thread while this one reads, or both sides would fill their socket
    // buffers and wait for each other forever.
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut writer = client.stream().try_clone().expect("clone the stream");
    let sent = data.clone();
    let sender = std::thread::spawn(move || writer.write_all(&sent));
    let echoed = client.read_exact(data.len());
    sender.join().expect("sender").expect("send");
    assert!(echoed == data, "the echo differs from what was sent");
    client.shutdown_write();
    client.expect_closed();
}

#[test]
fn a_chunk_that_is_just_zero_is_echoed_and_the_session_goes_on() {
    let server = start(2);
    let mut client = server.connect();
    let pid = client.read_greeting_pid();
    client.send(b"0");
    assert_eq!(client.read_exact(1), b"0");
    client.send(b"still here\n");
    assert_eq!(client.read_line(), "still here\n");
    assert!(procfs::exists(pid));
}

#[test]
fn at_most_max_procs_are_served_and_the_next_as_soon_as_one_leaves() {
    let mut server = start(2);
    let mut first = server.connect();
    let mut second = server.connect();
    let first_pid = first.read_greeting_pid();
    second.read_greeting_pid();

    // The third is connected (the kernel queued it), but nobody serves it.
    let mut third = server.connect();
    assert!(third.is_silent_for(Duration::from_millis(300)));
    assert_eq!(procfs::live_children(server.pid()).len(), 2);

    drop(first);
    let third_pid = third.read_greeting_pid();
    third.send_line("hello");
    assert_eq!(third.read_line(), "hello\n");

    server.next_line();
    server.next_line();
    assert_eq!(
        server.next_line(),
        format!("child {first_pid} is done (1 of 2 busy)")
    );
    assert_eq!(
        server.next_line(),
        format!(
            "child {third_pid} serves {} (2 of 2 busy)",
            third.local_addr()
        )
    );
}

#[test]
fn no_zombies_remain_after_clients_leave() {
    let mut server = start(3);
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.read_greeting_pid();
        server.next_line();
    }
    // Three ways to leave: close, half-close and wait, reset.
    let reset = clients.pop().expect("three clients");
    reset.reset();
    let half_closed = clients.pop().expect("two clients");
    half_closed.shutdown_write();
    drop(clients);
    let mut half_closed = half_closed;
    half_closed.expect_closed();

    let all_gone =
        wait_until(timeout(), || procfs::children(server.pid()).is_empty());
    assert!(
        all_gone,
        "children left: {:?}",
        procfs::children(server.pid())
    );
    let mut endings: Vec<String> = (0..3).map(|_| server.next_line()).collect();
    endings.sort();
    assert!(
        endings.iter().all(|line| line.starts_with("child ")),
        "{endings:?}"
    );
    assert!(endings.iter().any(|line| line.ends_with("(0 of 3 busy)")));
}

#[test]
fn a_child_killed_by_a_signal_frees_its_slot() {
    let mut server = start(1);
    let mut first = server.connect();
    let pid = first.read_greeting_pid();
    server.next_line();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    // The kernel closes the dead child's socket, and the parent holds no
    // copy of it, so the client sees the connection end.
    first.expect_closed();
    assert_eq!(
        server.next_line(),
        format!("child {pid} was killed by SIGKILL (0 of 1 busy)")
    );
    let mut second = server.connect();
    second.read_greeting_pid();
}

#[test]
fn a_client_that_resets_does_not_disturb_the_others() {
    let mut server = start(2);
    let mut calm = server.connect();
    calm.read_greeting_pid();
    let mut rude = server.connect();
    let rude_pid = rude.read_greeting_pid();
    server.next_line();
    server.next_line();
    // Unread data makes the child's next read fail: the reset is certain.
    rude.send(b"never read");
    rude.reset();
    let ended = server.next_line();
    assert!(
        ended.starts_with(&format!("child {rude_pid} "))
            && ended.ends_with("(1 of 2 busy)"),
        "{ended:?}"
    );
    calm.send_line("still fine");
    assert_eq!(calm.read_line(), "still fine\n");
}

#[test]
fn a_child_holds_only_its_client_and_the_parent_only_its_listener() {
    let server = start(2);
    let mut client = server.connect();
    let child = client.read_greeting_pid();
    let sockets = |pid: u32| {
        (0..64)
            .filter_map(|fd| procfs::fd_target(pid, fd))
            .filter(|target| target.to_string_lossy().starts_with("socket:["))
            .count()
    };
    // The child drops the listening socket before it greets.
    assert_eq!(sockets(child), 1, "the child kept the listening socket");
    // The parent drops its copy of the client's socket right after fork,
    // perhaps a moment after the child has greeted.
    assert!(
        wait_until(timeout(), || sockets(server.pid()) == 1),
        "the parent kept the client's socket"
    );
}

#[test]
fn the_parent_sleeps_while_it_waits_for_clients() {
    let mut server = start(2);
    // Serve one client first, so that the loop has gone round once.
    let mut client = server.connect();
    client.read_greeting_pid();
    drop(client);
    server.next_line();
    server.next_line();
    kernel::assert_asleep_during(server.pid(), Duration::from_secs(1));
}

#[test]
fn the_parent_sleeps_while_every_slot_is_busy() {
    // The original spins here: the listening socket stays readable, and
    // select returns at once, again and again.
    let mut server = start(1);
    let mut busy = server.connect();
    busy.read_greeting_pid();
    server.next_line();
    let mut waiting = server.connect();
    assert!(waiting.is_silent_for(Duration::from_millis(100)));
    kernel::assert_asleep_during(server.pid(), Duration::from_secs(1));
    drop(busy);
    waiting.read_greeting_pid();
}

#[test]
fn max_procs_must_be_a_number_of_processes_from_one_up() {
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
fn bad_arguments_print_usage() {
    conventions::assert_bad_arguments_print_usage(
        SERVER,
        &[&["127.0.0.1:0", "extra"], &["--help"]],
        "usage: ch08-forking-echo-server [ADDR]",
    );
}

#[test]
fn a_port_in_use_is_reported_in_one_line() {
    let server = start(2);
    conventions::assert_address_in_use_is_reported(SERVER, server.addr());
}

#[test]
fn sessions_match_the_book() {
    let mut server = start(2);
    let mut output =
        format!("listening on {}\nclient slots: 2\n", server.addr());
    let mut first = server.connect();
    let mut second = server.connect();
    let first_greeting = first.read_line();
    second.read_line();
    let mut third = server.connect();
    assert!(third.is_silent_for(Duration::from_millis(100)));

    // What a reader sees who types two lines into `nc`: each line twice,
    // once as typed and once as echoed.
    let mut typed = first_greeting;
    for line in ["hello", "0"] {
        first.send_line(line);
        typed.push_str(&format!("{line}\n"));
        typed.push_str(&first.read_line());
    }
    drop(first);
    third.read_line();
    for _ in 0..4 {
        output.push_str(&server.next_line());
        output.push('\n');
    }
    Transcript::new("transcripts/server.console")
        .command("cargo run -p ch08-forking-echo-server")
        .output(&output)
        .show_port(server.port(), 8080)
        .check();
    Transcript::new("transcripts/nc.console")
        .command("nc 127.0.0.1 8080")
        .output(&typed)
        .show_port(server.port(), 8080)
        .check();
}
