//! The C10K problem: Listing 12-2 holds 10,000 connected clients, sleeps
//! while they are idle, and still answers a new client, and old ones, at
//! once.
//!
//! A file of its own, so a test process of its own: it raises that
//! process's descriptor limit and holds ten thousand connections.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use testkit::select_server::{WELCOME, round_trip, welcomed};
use testkit::{Server, procfs, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch12-epoll-server");
const CLIENTS: usize = 10_000;
/// The clients connect in batches, each batch welcomed before the next
/// connects, so that the listen queue never overflows (a dropped SYN is
/// retried only after a second).
const BATCH: usize = 100;

// ANCHOR: c10k
#[test]
fn ten_thousand_connected_clients_and_a_new_one_is_still_answered_at_once() {
    // This process holds the clients' ends; the server raises its own limit.
    if !testkit::limits::raise_own_descriptor_limit(CLIENTS as u64 + 256) {
        return;
    }
    let mut server = Server::start_with(
        SERVER,
        ["127.0.0.1:0", &(CLIENTS + 10).to_string()],
        &[],
    );
    let welcome: String = WELCOME.concat();
    let started = Instant::now();
    let mut clients: Vec<TcpStream> = Vec::with_capacity(CLIENTS);
    while clients.len() < CLIENTS {
        let batch: Vec<TcpStream> = (0..BATCH)
            .map(|_| {
                TcpStream::connect_timeout(&server.addr(), timeout())
                    .expect("connect")
            })
            .collect();
        for mut client in batch {
            client.set_read_timeout(Some(timeout())).expect("timeout");
            let mut heard = vec![0u8; welcome.len()];
            client.read_exact(&mut heard).expect("the welcome");
            assert_eq!(heard, welcome.as_bytes());
            clients.push(client);
        }
        assert!(
            started.elapsed() < 6 * timeout(),
            "{} clients connected in {:?}",
            clients.len(),
            started.elapsed()
        );
    }
    // ANCHOR_END: c10k
    let connecting = started.elapsed();
    assert!(procfs::open_fds(server.pid()) > CLIENTS);

    // Ten thousand idle clients cost an epoll server nothing while they
    // are idle: it sleeps in epoll_wait().
    let used = procfs::cpu_used_during(server.pid(), Duration::from_secs(1));
    assert!(used < Duration::from_millis(100), "idle, it used {used:?}");

    // A new client is welcomed and answered...
    let asked = Instant::now();
    let mut newcomer = welcomed(&server);
    round_trip(&mut newcomer, "one more");
    let newcomer_served = asked.elapsed();
    // ...and so are clients connected long ago, first, middle and last.
    for index in [0, CLIENTS / 2, CLIENTS - 1] {
        let client = &mut clients[index];
        client.write_all(b"still here\n").expect("write");
        let mut reply = vec![0u8; "OK ... still here\n".len()];
        client.read_exact(&mut reply).expect("the reply");
        assert_eq!(reply, b"OK ... still here\n");
    }
    eprintln!(
        "{CLIENTS} clients connected in {connecting:?}; idle, the server \
         used {used:?} of CPU in a second; a new one was \
         welcomed and answered in {newcomer_served:?}"
    );
    // They leave at once: the server closes all ten thousand, and is
    // still there.
    drop(clients);
    let pid = server.pid();
    assert!(
        testkit::wait_until(timeout(), || procfs::open_fds(pid) < 100),
        "{} descriptors still open",
        procfs::open_fds(pid)
    );
    assert!(!server.process().has_exited());
    round_trip(&mut newcomer, "after they left");
}
