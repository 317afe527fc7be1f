//! The checks for exercise 5-2, part 1: the server serves clients whose
//! descriptors select() could not watch. It fails on the unchanged starter,
//! which must refuse them.
//!
//! A file of its own, so a test process of its own: it raises that process's
//! descriptor limit and holds over a thousand connections.

use testkit::{Client, Process, Server, procfs};

const SERVER: &str = env!("CARGO_BIN_EXE_ch05-exercise-poll");
/// More clients than FD_SETSIZE (1024) descriptors could hold.
const CLIENTS: usize = 1100;
const NEEDED: u64 = 4096;

#[test]
fn more_clients_than_fd_setsize_are_all_welcomed_and_served() {
    // The server inherits this raised limit; without it, accept() would run
    // out of descriptors at 1024 whatever the server waits with.
    if !testkit::limits::raise_own_descriptor_limit(NEEDED) {
        return;
    }

    let server = Server::start_with(SERVER, ["127.0.0.1:0", "2000"], &[]);
    let mut clients: Vec<Client> = Vec::with_capacity(CLIENTS);
    for number in 0..CLIENTS {
        let mut client = server.connect();
        let first = client.read_line();
        assert_eq!(
            first, "Welcome to php socket server version 1.0 \n",
            "client {number} was not welcomed"
        );
        client.read_line();
        clients.push(client);
    }
    assert!(procfs::open_fds(server.pid()) > CLIENTS);

    // Every client is served, the ones above descriptor 1024 too.
    for (number, client) in clients.iter_mut().enumerate() {
        client.send_line(&format!("client {number}"));
    }
    for (number, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.read_line(), format!("OK ... client {number}\n"));
    }
}

#[test]
fn the_client_limit_is_what_descriptors_allow_not_what_select_can_watch() {
    // With poll(), FD_SETSIZE is no bound; the process's hard limit on
    // descriptors is: stdin, stdout, stderr and the listener take four.
    let most = testkit::limits::hard_descriptor_limit() - 4;
    let too_many = (most + 1).to_string();
    let run = Process::run(SERVER, ["127.0.0.1:0", &too_many], b"");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "MAX_CLIENTS must be a number of clients, 1 to {most}, not \
             \"{too_many}\"\n"
        )
    );
}
