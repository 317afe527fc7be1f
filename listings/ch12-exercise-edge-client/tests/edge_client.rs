//! The checks for exercise 12-2: the client relays everything, however
//! much, with the socket and stdin watched edge-triggered. The server is
//! Listing 12-2.

use std::fs;
use std::process::Command;

use testkit::{Process, Server, procfs};

const CLIENT: &str = env!("CARGO_BIN_EXE_ch12-exercise-edge-client");
const WELCOME: &str = "Welcome to php socket server version 1.0 \n\
    Enter a message and press enter, and i shall reply back \n";

fn server() -> Server {
    Server::start(testkit::bin("ch12-epoll-server"))
}

#[test]
fn a_short_pipe_is_relayed_and_the_client_ends_when_the_server_does() {
    let server = server();
    let run = Process::run(
        CLIENT,
        [server.addr().to_string()],
        b"hello\nhow are you?\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("{WELCOME}OK ... hello\nOK ... how are you?\n")
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn a_long_pipe_is_relayed_whole_without_stalling() {
    // 200,000 lines (1.3 MB) in a pipe of 64 KiB: the client reads stdin
    // many times, and often when it becomes readable it is still sending.
    // A client that waits for another edge before it reads again waits
    // for ever once the writer has finished, and this run times out.
    let server = server();
    let lines = 200_000;
    // The lines come from `seq`, through a pipe, as from `seq ... | client`:
    // a client that stops reading stops `seq`, and the run ends at the
    // kit's timeout, where a test writing into the pipe itself would wait
    // for ever.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!("seq 1 {lines} | exec \"$0\" \"$1\""),
        CLIENT,
        &server.addr().to_string(),
    ]);
    let run = Process::spawn(command).finish();
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2 + lines);
    assert!(
        run.stdout
            .ends_with(&format!("OK ... {}\nOK ... {lines}\n", lines - 1)),
        "the last replies are missing"
    );
}

#[test]
fn replies_are_printed_while_the_user_is_still_typing() {
    let server = server();
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    let mut client = Process::spawn(command);
    assert_eq!(client.next_line(), WELCOME.lines().next().unwrap_or(""));
    client.next_line();
    for line in ["one", "two", "three"] {
        client.write_stdin(format!("{line}\n").as_bytes());
        assert_eq!(client.next_line(), format!("OK ... {line}"));
    }
}

/// The events each descriptor is watched for, by the epoll instance of
/// `pid`: from `/proc/<pid>/fdinfo/<epoll fd>`, whose `tfd:` lines name a
/// watched descriptor and its events in hexadecimal.
fn watched(pid: u32) -> Vec<(u32, u32)> {
    let epoll = procfs::descriptors(pid)
        .into_iter()
        .find(|(_, target)| target.to_string_lossy().contains("eventpoll"))
        .map(|(fd, _)| fd)
        .expect("the client has an epoll instance");
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{epoll}"))
        .expect("the epoll instance's fdinfo");
    info.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "tfd:").then_some(())?;
            let fd = words.next()?.parse().ok()?;
            (words.next()? == "events:").then_some(())?;
            let events = u32::from_str_radix(words.next()?, 16).ok()?;
            Some((fd, events))
        })
        .collect()
}

#[test]
fn stdin_and_the_socket_are_watched_edge_triggered() {
    const EPOLLIN: u32 = 0x1;
    const EPOLLOUT: u32 = 0x4;
    const EPOLLET: u32 = 1 << 31;
    let server = server();
    let mut command = Command::new(CLIENT);
    command.arg(server.addr().to_string());
    let mut client = Process::spawn(command);
    client.next_line(); // welcomed: it watches both by now
    let watched = watched(client.pid());
    let stdin = watched.iter().find(|(fd, _)| *fd == 0);
    assert!(
        stdin.is_some_and(
            |(_, events)| events & (EPOLLIN | EPOLLET) == EPOLLIN | EPOLLET
        ),
        "stdin is not watched for input, edge-triggered: {watched:x?}"
    );
    let socket = watched.iter().find(|(fd, _)| *fd > 2);
    assert!(
        socket.is_some_and(|(_, events)| {
            events & (EPOLLIN | EPOLLOUT | EPOLLET)
                == EPOLLIN | EPOLLOUT | EPOLLET
        }),
        "the socket is not watched for input and output, edge-triggered: \
         {watched:x?}"
    );
}
