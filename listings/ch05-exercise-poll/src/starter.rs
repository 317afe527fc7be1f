//! Exercise 5-2 (your work): Listing 5-1, to be changed to wait with
//! poll(2) instead of select(2), so that it serves clients whose descriptors
//! are 1024 or more. The TODO comments mark the spots.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sys::select::{FD_SETSIZE, FdSet, select};
use nix::sys::time::{TimeVal, TimeValLike};

/// How many clients are served at once. The next one is turned away.
const MAX_CLIENTS: usize = 10;
/// The longest line a client may send, newline included.
const MAX_LINE: usize = 1024;
/// How many bytes of replies may wait for a client that does not read them.
const MAX_UNSENT: usize = 64 * 1024;

const WELCOME: &[u8] = b"Welcome to php socket server version 1.0 \n\
    Enter a message and press enter, and i shall reply back \n";
const FULL: &[u8] = b"Sorry, the server is full. Try again later.\n";

/// One connected client, and the bytes in flight to and from it.
struct Client {
    /// Non-blocking: a read or write that would wait fails with WouldBlock.
    stream: TcpStream,
    peer: SocketAddr,
    /// What arrived after the last newline: the start of the next line.
    partial_line: Vec<u8>,
    /// Replies the kernel could not take yet, oldest first.
    unsent: Vec<u8>,
    /// The client has finished sending (read returned 0). We close the
    /// connection once its last replies are sent.
    finished_sending: bool,
}

pub fn main() -> ExitCode {
    // The address to listen on, and optionally how many clients to serve at
    // once (the load test of this chapter raises it to 1,000).
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    let usage = || {
        eprintln!("usage: ch05-exercise-poll [ADDR [MAX_CLIENTS]]");
        ExitCode::from(2)
    };
    let max_clients = match args.next().map(|text| text.parse::<usize>()) {
        None => MAX_CLIENTS,
        Some(Ok(count)) if count > 0 => count,
        Some(_) => return usage(),
    };
    if addr.starts_with('-') || args.next().is_some() {
        return usage();
    }

    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // select() says when accept() will not block. Non-blocking makes sure of
    // it: should the connection vanish in between, accept() fails at once
    // with WouldBlock instead of stopping every client until the next one.
    if let Err(err) = listener.set_nonblocking(true) {
        eprintln!("could not make {addr} non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    match listener.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }

    // One slot per client, like the original's $client_socks array.
    let mut slots: Vec<Option<Client>> = Vec::new();
    slots.resize_with(max_clients, || None);
    // False after accept() ran out of descriptors (see `admit`).
    let mut accepting = true;
    loop {
        let (new_connection, ready) = match wait(&listener, &slots, accepting) {
            Ok(ready) => ready,
            // A signal arrived while we slept: nothing is ready, ask again.
            Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("select failed: {err}");
                return ExitCode::FAILURE;
            }
        };
        // If accept() ran out of descriptors, whatever woke us (a client, or
        // the one-second timeout) is the cue to let it try again.
        accepting = true;
        if new_connection {
            accepting = admit(&listener, &mut slots);
        }
        for (index, slot) in slots.iter_mut().enumerate() {
            let (readable, writable) = ready[index];
            let Some(client) = slot else { continue };
            if !readable && !writable {
                continue;
            }
            let peer = client.peer;
            match client.serve(readable) {
                Err(reason) => {
                    println!("slot {index}: {peer} dropped: {reason}")
                }
                Ok(()) if client.is_done() => {
                    println!("slot {index}: {peer} disconnected")
                }
                Ok(()) => continue,
            }
            // Dropping the client closes its socket and frees the slot. Had
            // we kept it, select() would report its end of stream forever.
            *slot = None;
        }
    }
}

// ANCHOR: task_wait
// TODO: wait with nix::poll::poll() instead.
/// Sleeps in select() until a socket is ready. Returns whether a connection
/// is waiting to be accepted and, slot by slot, whether the client's socket
/// is readable and writable.
fn wait(
    listener: &TcpListener,
    slots: &[Option<Client>],
    accepting: bool,
) -> nix::Result<(bool, Vec<(bool, bool)>)> {
    let mut read_set = FdSet::new();
    let mut write_set = FdSet::new();
    if accepting {
        read_set.insert(listener.as_fd());
    }
    for client in slots.iter().flatten() {
        // Ask only about what we will act on. A client that has finished
        // sending stays readable (end of stream) forever, and almost every
        // socket is writable almost always: either would wake us for nothing.
        if !client.finished_sending {
            read_set.insert(client.stream.as_fd());
        }
        if !client.unsent.is_empty() {
            write_set.insert(client.stream.as_fd());
        }
    }
    // No timeout: sleep until something happens. The one exception is while
    // accept() is out of descriptors; then we look again after a second.
    let mut retry_after = TimeVal::seconds(1);
    let timeout = if accepting {
        None
    } else {
        Some(&mut retry_after)
    };
    select(None, &mut read_set, &mut write_set, None, timeout)?;

    // select() has overwritten the sets: now they hold only the ready sockets.
    let new_connection = read_set.contains(listener.as_fd());
    let ready = slots
        .iter()
        .map(|slot| match slot {
            Some(client) => (
                read_set.contains(client.stream.as_fd()),
                write_set.contains(client.stream.as_fd()),
            ),
            None => (false, false),
        })
        .collect();
    Ok((new_connection, ready))
}
// ANCHOR_END: task_wait

/// Accepts the waiting connection: into a free slot if there is one, or only
/// to say "sorry" and close it. Returns false if we ran out of descriptors.
fn admit(listener: &TcpListener, slots: &mut [Option<Client>]) -> bool {
    let (stream, peer) = match listener.accept() {
        Ok(connection) => connection,
        // The client gave up (or a signal came) between select() and accept().
        Err(err) if is_not_now(&err) => return true,
        // EMFILE or ENFILE: the connection stays queued, so the listener
        // stays readable. Asking select() about it again would return at
        // once, again and again: the loop would spin. So we stop asking.
        Err(err) if err.raw_os_error().is_some_and(is_out_of_files) => {
            eprintln!("could not accept a connection: {err}");
            return false;
        }
        Err(err) => {
            eprintln!("could not accept a connection: {err}");
            return true;
        }
    };
    // ANCHOR: task_admit
    // TODO: with poll(), this check has no reason to be.
    // FdSet can only hold descriptors below FD_SETSIZE (1024), and nix
    // panics rather than write past its end. A client we cannot watch is a
    // client we cannot serve.
    let descriptor = stream.as_raw_fd();
    if descriptor >= FD_SETSIZE as RawFd {
        let reason = format!(
            "descriptor {descriptor} is too large for select \
             (FD_SETSIZE is {FD_SETSIZE})"
        );
        refuse(stream, peer, &reason);
        return true;
    }
    // ANCHOR_END: task_admit
    // Accept even when every slot is taken: a connection we left in the
    // queue would keep the listener readable, and select() would return at
    // once, forever. Accepting it and saying "sorry" empties the queue.
    let Some(free) = slots.iter().position(Option::is_none) else {
        refuse(
            stream,
            peer,
            &format!("all {} slots are taken", slots.len()),
        );
        return true;
    };
    if let Err(err) = stream.set_nonblocking(true) {
        eprintln!("could not make {peer}'s socket non-blocking: {err}");
        return true;
    }
    println!("slot {free}: {peer} connected");
    let mut client = Client {
        stream,
        peer,
        partial_line: Vec::new(),
        unsent: WELCOME.to_vec(),
        finished_sending: false,
    };
    // A new socket's send buffer is empty, so this sends the whole welcome.
    if let Err(err) = client.flush() {
        println!("slot {free}: {peer} dropped: could not write: {err}");
        return true;
    }
    slots[free] = Some(client);
    true
}

/// Tells a client we cannot serve it why, and closes the connection.
fn refuse(mut stream: TcpStream, peer: SocketAddr, reason: &str) {
    println!("{peer} refused: {reason}");
    // A short message into an empty send buffer: this write does not block.
    // If it fails anyway, the client still sees the connection close.
    let _ = stream.write_all(FULL);
}

/// Whether an error only means "not now": there is nothing to take yet
/// (WouldBlock), or a signal came first (Interrupted).
fn is_not_now(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

/// Whether accept() failed because the process (EMFILE) or the whole system
/// (ENFILE) has no descriptor left.
fn is_out_of_files(errno: i32) -> bool {
    errno == Errno::EMFILE as i32 || errno == Errno::ENFILE as i32
}

impl Client {
    /// Whether the client has finished sending and has been sent everything.
    fn is_done(&self) -> bool {
        self.finished_sending && self.unsent.is_empty()
    }

    /// Does what select() said will not block: reads if the socket is
    /// readable, then sends what it can. Returns why the client must be
    /// dropped, if it must.
    fn serve(&mut self, readable: bool) -> Result<(), String> {
        if readable {
            self.receive()?;
        }
        self.flush()
            .map_err(|err| format!("could not write: {err}"))?;
        // The kernel has taken all it will. What is left waits here, and a
        // client that never reads would make it grow without end.
        if self.unsent.len() > MAX_UNSENT {
            let unread = self.unsent.len();
            return Err(format!("{unread} bytes of replies unread"));
        }
        Ok(())
    }

    /// Reads once, and queues a reply for every complete line.
    fn receive(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        let received = match self.stream.read(&mut chunk) {
            Ok(received) => received,
            Err(err) if is_not_now(&err) => return Ok(()),
            Err(err) => return Err(format!("could not read: {err}")),
        };
        if received == 0 {
            // End of stream: the client closed, or half-closed its sending
            // side. What came after its last newline is its last line.
            self.finished_sending = true;
            if !self.partial_line.is_empty() {
                let last = std::mem::take(&mut self.partial_line);
                self.queue_reply(&last);
            }
            return Ok(());
        }
        // TCP carries bytes, not lines: this chunk may hold half a line, or
        // several lines. Keep what is incomplete for the next read.
        self.partial_line.extend_from_slice(&chunk[..received]);
        while let Some(end) =
            self.partial_line.iter().position(|&byte| byte == b'\n')
        {
            if end + 1 > MAX_LINE {
                return Err(format!("line longer than {MAX_LINE} bytes"));
            }
            let line: Vec<u8> = self.partial_line.drain(..=end).collect();
            self.queue_reply(&line);
        }
        if self.partial_line.len() >= MAX_LINE {
            return Err(format!("line longer than {MAX_LINE} bytes"));
        }
        Ok(())
    }

    /// Queues `OK ... <line>`. The line's own line ending (`\n`, or telnet's
    /// `\r\n`) is replaced by ours.
    fn queue_reply(&mut self, line: &[u8]) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.unsent.extend_from_slice(b"OK ... ");
        self.unsent.extend_from_slice(text);
        self.unsent.push(b'\n');
    }

    /// Writes as much of `unsent` as the kernel takes without blocking.
    fn flush(&mut self) -> io::Result<()> {
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                // A write may take only part of what we offer.
                Ok(written) => {
                    self.unsent.drain(..written);
                }
                // The send buffer is full: the rest waits until select()
                // says the socket is writable again.
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}
