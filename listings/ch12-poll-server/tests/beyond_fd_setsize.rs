//! poll() has no FD_SETSIZE: Listing 12-1 serves clients on descriptors
//! from 1024 up, which Listing 5-1 must refuse.
//!
//! A file of its own, so a test process of its own: it raises that
//! process's descriptor limit and holds over a thousand connections.

use testkit::select_server::welcomed;
use testkit::{Client, Server, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch12-poll-server");
/// More clients than FD_SETSIZE (1024) descriptors could hold.
const CLIENTS: usize = 1100;

#[test]
fn more_clients_than_fd_setsize_are_all_welcomed_and_served() {
    // The test's own clients need descriptors too (the server raises its
    // own limit).
    if !testkit::limits::raise_own_descriptor_limit(2048) {
        return;
    }
    let server = Server::start_with(SERVER, ["127.0.0.1:0", "2000"], &[]);
    let mut clients: Vec<Client> =
        (0..CLIENTS).map(|_| welcomed(&server)).collect();
    assert!(procfs::open_fds(server.pid()) > CLIENTS);
    for (number, client) in clients.iter_mut().enumerate() {
        client.send_line(&format!("client {number}"));
    }
    for (number, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.read_line(), format!("OK ... client {number}\n"));
    }
}
