//! select() can watch only descriptors below FD_SETSIZE (1024). Listing 5-1
//! must refuse a connection whose descriptor is larger, not panic on it.
//!
//! This test lives in a file of its own, so in a test process of its own: it
//! raises that process's descriptor limit and holds a thousand sockets.

use std::os::fd::{BorrowedFd, IntoRawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use testkit::{Client, Process, Server, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-select-server");
const FD_SETSIZE: usize = 1024;
/// Descriptors this test needs: its own clients and the server's (the
/// server inherits this process's limit), with room to spare.
const NEEDED: u64 = 4096;
/// The server starts with descriptors 3 to 99 taken, as a process that
/// opened files and sockets before might have them: its clients reach
/// descriptor 1024 before they fill its 1,020 slots.
const TAKEN: std::ops::Range<i32> = 3..100;

#[test]
fn a_connection_whose_descriptor_select_cannot_watch_is_refused_cleanly() {
    // The usual soft limit is 1024, and then accept() would fail with EMFILE
    // before any descriptor reached 1024. Raise it, within the hard limit.
    if !testkit::limits::raise_own_descriptor_limit(NEEDED) {
        return;
    }

    // As many slots as select() allows, so that descriptors run out first.
    let mut command = Command::new(SERVER);
    command.args(["127.0.0.1:0", "1020"]);
    // SAFETY: the closure runs in the child between fork and exec, and only
    // calls dup2(2), which is async-signal-safe. It replaces whatever the
    // descriptors held (in the child only) with copies of stdin that stay
    // open through exec; the copies are leaked on purpose.
    unsafe {
        command.pre_exec(|| {
            let stdin = BorrowedFd::borrow_raw(0);
            for descriptor in TAKEN {
                let _ = nix::unistd::dup2_raw(stdin, descriptor)?.into_raw_fd();
            }
            Ok(())
        });
    }
    let mut server = Server::from_process(Process::spawn(command));
    let mut clients: Vec<Client> = Vec::new();
    let (refused_addr, refused) = loop {
        // Bounded: there are fewer than FD_SETSIZE descriptors to fill.
        assert!(
            clients.len() <= FD_SETSIZE,
            "{} clients were all admitted",
            clients.len()
        );
        let mut client = server.connect();
        let first = client.read_line();
        let logged = server.next_line();
        if first.starts_with("Sorry") {
            assert_eq!(first, "Sorry, the server is full. Try again later.\n");
            client.expect_closed();
            break (client.local_addr(), logged);
        }
        assert_eq!(
            client.read_line(),
            "Enter a message and press enter, and i shall reply back \n"
        );
        clients.push(client);
    };
    assert_eq!(
        refused,
        format!(
            "{refused_addr} refused: descriptor 1024 is too large for select \
             (FD_SETSIZE is 1024)"
        )
    );
    // Every descriptor below 1024 held a client or something the server
    // had before, and slots were left.
    assert_eq!(
        procfs::descriptors_below(server.pid(), FD_SETSIZE as u64),
        FD_SETSIZE
    );
    assert!(clients.len() < 1020, "{} clients", clients.len());

    // The server goes on serving the clients it has, the first and the last.
    for index in [0, clients.len() - 1] {
        clients[index].send_line("still served");
        assert_eq!(clients[index].read_line(), "OK ... still served\n");
    }
    // One leaves; its descriptor is below 1024 again, so the next is let in.
    drop(clients.swap_remove(0));
    assert!(server.next_line().ends_with(" disconnected"));
    let mut newcomer = server.connect();
    assert_eq!(
        newcomer.read_line(),
        "Welcome to php socket server version 1.0 \n"
    );
    assert!(server.next_line().ends_with(" connected"));
    // And the server is asleep, not spinning, with a thousand clients.
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(used < Duration::from_millis(100), "{used:?}");
}
