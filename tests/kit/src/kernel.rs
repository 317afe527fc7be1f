//! What the kernel tells about a process beyond [`crate::procfs`]: where it
//! sleeps, how often it has been woken, how many threads it runs, and which
//! sockets listen on a port. The tests of chapters 9 and 10 use these to show
//! that a server sleeps in the call the book says, and that a connection wakes
//! only the process that serves it.

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use crate::{procfs, timeout, wait_until};

/// The kernel function `pid` sleeps in (`/proc/<pid>/wchan`), such as
/// `inet_csk_accept` for a process blocked in `accept`; `None` if the process
/// is gone or running.
pub fn wchan(pid: u32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/wchan")).ok()?;
    (!text.is_empty() && text != "0").then_some(text)
}

/// Whether this machine shows where a sleeping process waits: some kernels
/// and containers hide `/proc/<pid>/wchan` (it reads `0`). Tests that need it
/// skip where it is not readable, saying so.
#[track_caller]
pub fn wchan_is_readable() -> bool {
    static READABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READABLE.get_or_init(|| {
        // A thread of ours that sleeps on a channel has a wait channel.
        let (tell, told) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = tell.send(nix::unistd::gettid().as_raw() as u32);
            let _ = stopped.recv();
        });
        let readable = told
            .recv()
            .is_ok_and(|tid| wait_until(timeout(), || wchan(tid).is_some()));
        drop(stop);
        let _ = thread.join();
        readable
    })
}

/// Whether `pid` is asleep in `accept` (its wait channel is the kernel's
/// `inet_csk_accept`).
#[track_caller]
pub fn is_blocked_in_accept(pid: u32) -> bool {
    wchan(pid).is_some_and(|wchan| wchan.contains("accept"))
}

/// Waits until `parent` has exactly `count` live children and every one of
/// them is asleep in `accept` (a prefork server's idle workers), and returns
/// their pids. Fails the test if that does not happen within [`timeout()`].
#[track_caller]
pub fn children_asleep_in_accept(parent: u32, count: usize) -> BTreeSet<u32> {
    let mut pids = BTreeSet::new();
    let ready = wait_until(timeout(), || {
        pids = procfs::live_children(parent)
            .iter()
            .map(|child| child.pid)
            .collect();
        pids.len() == count && pids.iter().all(|&pid| is_blocked_in_accept(pid))
    });
    assert!(
        ready,
        "expected {count} children of {parent} asleep in accept(), found {pids:?}"
    );
    pids
}

/// How many times `pid` gave up the CPU to wait for something
/// (`voluntary_ctxt_switches` in `/proc/<pid>/status`): every time it is woken
/// and goes back to sleep, this grows by one.
#[track_caller]
pub fn voluntary_switches(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

/// Checks that `pid` sleeps through `span`, as a server waiting in the kernel
/// for something to happen does: it uses almost no CPU, and is woken at most
/// once (it may have been just going back to sleep). A server that polls, even
/// with a nap in its loop, wakes up every time round.
#[track_caller]
pub fn assert_asleep_during(pid: u32, span: Duration) {
    let Some(before) = voluntary_switches(pid) else {
        panic!("process {pid} is gone");
    };
    let used = procfs::cpu_used_during(pid, span);
    let Some(after) = voluntary_switches(pid) else {
        panic!("process {pid} is gone");
    };
    let wakeups = after - before;
    assert!(
        used < Duration::from_millis(50),
        "process {pid} used {used:?} of CPU in {span:?}"
    );
    assert!(
        wakeups <= 1,
        "process {pid} woke up {wakeups} times in {span:?}"
    );
}

/// How many threads `pid` runs (the entries of `/proc/<pid>/task`).
pub fn threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// The rows of `/proc/net/tcp` and `/proc/net/tcp6` whose own port is
/// `port`, split into their fields: `sl local_address rem_address st
/// tx_queue:rx_queue ... uid timeout inode` (see proc(5)); the local
/// address is `HEXIP:HEXPORT`, the state `0A` for a listening socket.
#[track_caller]
fn tcp_rows(port: u16) -> Vec<Vec<String>> {
    let wanted = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .map(|line| {
                    line.split_whitespace().map(str::to_string).collect()
                })
                .filter(|fields: &Vec<String>| {
                    fields.len() > 9 && fields[1].ends_with(&wanted)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How many TCP sockets of this network namespace listen on `port`, on any
/// address (from `/proc/net/tcp` and `/proc/net/tcp6`, state `0A`).
#[track_caller]
pub fn listening_sockets(port: u16) -> usize {
    tcp_rows(port)
        .iter()
        .filter(|fields| fields[3] == "0A")
        .count()
}

/// How many TCP sockets whose own port is `port`, listening or connected,
/// some process still holds. A socket that no process holds any more
/// (closed, and waiting out TCP's last states, such as `TIME_WAIT`) shows
/// inode 0: it does not count, and keeps no server from binding the port.
#[track_caller]
pub fn sockets_held_on(port: u16) -> usize {
    tcp_rows(port)
        .iter()
        .filter(|fields| fields[9] != "0")
        .count()
}

/// How many connections wait in the accept queue of each socket listening
/// on `port`, by the socket's inode: for a listening socket,
/// `/proc/net/tcp` shows the queue's length as its `rx_queue`.
#[track_caller]
pub fn accept_queues(port: u16) -> Vec<(u64, usize)> {
    tcp_rows(port)
        .iter()
        .filter(|fields| fields[3] == "0A")
        .filter_map(|fields| {
            let (_, queued) = fields[4].split_once(':')?;
            Some((
                fields[9].parse().ok()?,
                usize::from_str_radix(queued, 16).ok()?,
            ))
        })
        .collect()
}

/// The descriptor of `pid` that is a socket listening on `port`, if it has
/// one (the first, if it has several).
#[track_caller]
pub fn listener_of(pid: u32, port: u16) -> Option<u32> {
    let listening: Vec<String> = accept_queues(port)
        .iter()
        .map(|(inode, _)| format!("socket:[{inode}]"))
        .collect();
    procfs::descriptors(pid)
        .into_iter()
        .find_map(|(fd, target)| {
            listening
                .iter()
                .any(|socket| target.as_os_str() == socket.as_str())
                .then_some(fd)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_listening_socket_is_counted_once() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        assert_eq!(listening_sockets(port), 1);
        drop(listener);
        assert_eq!(listening_sockets(port), 0);
    }

    #[test]
    fn a_closed_connection_is_held_by_nobody_and_a_queued_one_is_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        assert_eq!(accept_queues(port).iter().map(|q| q.1).sum::<usize>(), 0);
        let client =
            std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        // Queued, not accepted: the listener's queue holds one.
        assert!(wait_until(timeout(), || {
            accept_queues(port)
                .first()
                .is_some_and(|&(_, queued)| queued == 1)
        }));
        let me = std::process::id();
        let fd = listener_of(me, port).expect("the test holds the listener");
        use std::os::fd::AsRawFd;
        assert_eq!(fd, listener.as_raw_fd() as u32);
        // The listener and the accepted end, on `port`; the client's end is
        // on another port.
        let (server_end, _) = listener.accept().expect("accept");
        assert_eq!(sockets_held_on(port), 2);
        drop((listener, server_end, client));
        assert_eq!(sockets_held_on(port), 0, "in TIME_WAIT, held by nobody");
    }

    use std::sync::mpsc;

    /// A thread of this test that blocks in accept() until told to stop:
    /// (its thread id, which /proc shows like a pid, and its listener's port).
    fn thread_blocked_in_accept() -> (u32, u16, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        let (tell, told) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let _ = tell.send(nix::unistd::gettid().as_raw() as u32);
            let _ = listener.accept();
        });
        let tid = told.recv().expect("the thread sends its id");
        (tid, port, thread)
    }

    #[test]
    fn a_thread_blocked_in_accept_is_seen_in_accept() {
        if !wchan_is_readable() {
            crate::skip("/proc/<pid>/wchan is not readable on this machine");
            return;
        }
        let (tid, port, thread) = thread_blocked_in_accept();
        assert!(
            wait_until(timeout(), || is_blocked_in_accept(tid)),
            "wchan of a thread in accept(): {:?}",
            wchan(tid)
        );
        let _ = std::net::TcpStream::connect(("127.0.0.1", port));
        thread
            .join()
            .expect("the thread ends once accept() returns");
    }

    #[test]
    fn each_wakeup_of_a_sleeping_thread_is_counted() {
        let (work, wait) = mpsc::channel::<()>();
        let (tell, told) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let _ = tell.send(nix::unistd::gettid().as_raw() as u32);
            while wait.recv().is_ok() {}
        });
        let tid = told.recv().expect("the thread sends its id");
        // Each message wakes the thread, which then waits again.
        let before = voluntary_switches(tid).expect("the thread's status");
        for _ in 0..5 {
            work.send(()).expect("the thread is waiting");
            assert!(wait_until(timeout(), || {
                voluntary_switches(tid).is_some_and(|now| now > before)
            }));
        }
        drop(work);
        thread
            .join()
            .expect("the thread ends when the channel closes");
    }
}
