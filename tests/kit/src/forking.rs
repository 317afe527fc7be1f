//! The forking servers of chapters 8 and 9 (Listings 8-1 and 9-1, and the
//! exercises built on them), and the pools of chapter 10, as their clients
//! see them: a greeting that names the process serving the client
//! ([`Client::read_greeting_pid`]), then every line echoed. The checks here
//! run on any of them: that no child outlives its parent, and that each
//! reply leaves in one write.

use std::net::TcpListener;

use nix::libc;
use nix::sys::signal::Signal;

use crate::survival::Conversation;
use crate::{
    Client, Server, data_segments_received, kernel, procfs, timeout, wait_until,
};

/// One client's visit, for the [`survival`](crate::survival) checks: the
/// greeting, one line echoed, and the end.
pub struct Visit;

impl Conversation for Visit {
    /// The server logs the child that serves the client when it starts
    /// (`child <pid> serves <peer> ...`) and when it is done (`child <pid>
    /// is done ...`, or `done: ...`).
    fn hear(&self, client: &mut Client) -> usize {
        let child = client.read_greeting_pid();
        client.send_line("served");
        assert_eq!(client.read_line(), "served\n");
        format!("child {child} serves {}\n", client.local_addr()).len()
            + format!("child {child} done\n").len()
    }
}

/// For each of `SIGKILL` and `SIGTERM`: starts a server (`start`), has a
/// client in the middle of a session with a child, and sends the signal to
/// the parent. The child must end too (no orphan serves on, unmanaged),
/// nothing the server started may still run, the client must see its
/// connection end, and nothing may hold the port: a new server can bind it.
#[track_caller]
pub fn assert_children_end_with_their_parent(start: impl Fn() -> Server) {
    for signal in [Signal::SIGKILL, Signal::SIGTERM] {
        let mut server = start();
        let (addr, group) = (server.addr(), server.pid());
        let mut client = server.connect();
        let child = client.read_greeting_pid();
        // In the middle of a session.
        client.send_line("hello");
        assert_eq!(client.read_line(), "hello\n");

        server.process().signal(signal);
        server.process().wait_exit(timeout());
        assert!(
            wait_until(timeout(), || !procfs::is_running(child)),
            "child {child} still serves after its parent got {signal}"
        );
        // No orphan: nothing the server started still runs.
        let left: Vec<u32> = procfs::group_members(group)
            .iter()
            .filter(|process| process.state != 'Z')
            .map(|process| process.pid)
            .collect();
        assert!(left.is_empty(), "left running: {left:?}");
        // The client sees its connection end.
        assert!(
            !matches!(client.try_read_line(), Ok(Some(_))),
            "the connection is still open"
        );
        // Nothing holds the port: a new server can have it.
        assert_eq!(kernel::sockets_held_on(addr.port()), 0);
        if let Err(err) = TcpListener::bind(addr) {
            panic!("could not bind {addr} again: {err}");
        }
    }
}

/// The greeting arrives in one TCP segment, and so does the echo of each
/// line: the server writes each message with one call (issue 10, item 12).
/// A line written in pieces, as `writeln!` straight onto a `TcpStream`
/// writes it, leaves in two or three. Returns the pid in the greeting.
///
/// (Counting the server's write calls would say it more directly, but
/// std's `TcpStream` writes with send(2), which `/proc/<pid>/io` does not
/// count.)
#[track_caller]
pub fn assert_each_reply_arrives_in_one_segment(client: &mut Client) -> u32 {
    let pid = client.read_greeting_pid();
    assert_eq!(
        data_segments_received(client.stream()),
        1,
        "segments for the greeting"
    );
    for line in ["hello", "a second line"] {
        let before = data_segments_received(client.stream());
        client.send_line(line);
        assert_eq!(client.read_line(), format!("{line}\n"));
        assert_eq!(
            data_segments_received(client.stream()),
            before + 1,
            "segments for the echo of {line:?}"
        );
    }
    pid
}

/// The server's listening socket is non-blocking: `poll()` may say that a
/// client waits who is gone by the time the parent accepts (another
/// process took it), and a blocking `accept()` would then hang the parent
/// until the next client.
#[track_caller]
pub fn assert_the_listener_is_non_blocking(server: &Server) {
    let (pid, port) = (server.pid(), server.port());
    let Some(fd) = kernel::listener_of(pid, port) else {
        panic!("process {pid} holds no socket listening on {port}");
    };
    let Some(flags) = procfs::fd_flags(pid, fd) else {
        panic!("no flags for descriptor {fd} of {pid}");
    };
    assert_ne!(flags & libc::O_NONBLOCK, 0, "flags {flags:o}");
}
