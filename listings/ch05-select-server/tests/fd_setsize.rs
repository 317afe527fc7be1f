//! select() can watch only descriptors below FD_SETSIZE (1024). Listing 5-1
//! must refuse a connection whose descriptor is larger, not panic on it.
//!
//! This test lives in a file of its own, so in a test process of its own: it
//! raises that process's descriptor limit and holds over a thousand sockets.

use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use testkit::{Client, Server, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-select-server");
const FD_SETSIZE: usize = 1024;
/// Descriptors this test needs: its own clients and the server's (the
/// server inherits this process's limit), with room to spare.
const NEEDED: u64 = 4096;

#[test]
fn a_connection_whose_descriptor_select_cannot_watch_is_refused_cleanly() {
    // The usual soft limit is 1024, and then accept() would fail with EMFILE
    // before any descriptor reached 1024. Raise it, within the hard limit.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    assert!(
        hard >= NEEDED,
        "this test needs a hard RLIMIT_NOFILE of at least {NEEDED}, not {hard}"
    );
    if soft < NEEDED {
        setrlimit(Resource::RLIMIT_NOFILE, NEEDED, hard).expect("setrlimit");
    }

    // Slots for 2,000 clients, so that descriptors run out first.
    let mut server = Server::start_with(SERVER, ["127.0.0.1:0", "2000"], &[]);
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
            "{refused_addr} refused: descriptor 1024 is too large for select (FD_SETSIZE is 1024)"
        )
    );
    // Every descriptor below 1024 held a client or something the server
    // had before: stdio, the listener, whatever it inherited.
    assert!(clients.len() > FD_SETSIZE - 16, "{} clients", clients.len());
    assert!(procfs::exists(server.pid()));

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
