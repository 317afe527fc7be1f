//! Exercise 12-2, a wrong answer: the book's answer, level-triggered (no
//! EPOLLET). It relays everything, but it is not what the exercise asks,
//! and a socket always writable wakes it at once, every time: it spins.
//! The book's answer: Listing 5-2's line client on epoll, edge-triggered.
//! epoll says once that a descriptor has become ready, so the client
//! remembers it, and forgets it only when a read or a write says
//! WouldBlock: then, and only then, the next edge will come.
//!
//! Run it with `cargo run -p ch12-exercise-edge-client [ADDR]` (default
//! 127.0.0.1:5000), with stdin a terminal or a pipe: epoll cannot watch a
//! regular file.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ExitCode;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::epoll::{
    Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout,
};

const SOCKET: u64 = 0;
const STDIN: u64 = 1;

pub fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch12-exercise-edge-client [ADDR]");
        return ExitCode::from(2);
    }
    let stream = match TcpStream::connect(&addr) {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("could not connect to {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = stream.set_nonblocking(true) {
        eprintln!("could not make {addr}'s socket non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    // Reading until WouldBlock needs a non-blocking stdin. The flag belongs
    // to the terminal or pipe, which other programs share: put it back.
    let stdin = io::stdin();
    let Ok(flags) = fcntl(stdin.as_fd(), FcntlArg::F_GETFL) else {
        eprintln!("could not read the flags of stdin");
        return ExitCode::FAILURE;
    };
    let flags = OFlag::from_bits_truncate(flags);
    let nonblocking = FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK);
    if let Err(err) = fcntl(stdin.as_fd(), nonblocking) {
        eprintln!("could not make stdin non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    let status = relay(&addr, &stream, stdin.as_fd());
    let _ = fcntl(stdin.as_fd(), FcntlArg::F_SETFL(flags));
    status
}

/// Sends what is typed and prints what the server says, until the server
/// closes the connection.
fn relay(addr: &str, stream: &TcpStream, stdin: BorrowedFd) -> ExitCode {
    let epoll = match watch(stream, stdin) {
        Ok(epoll) => epoll,
        Err(err) => {
            eprintln!("could not watch the socket and stdin: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = io::stdout();
    let mut chunk = [0u8; 4096];
    let mut unsent: Vec<u8> = Vec::new();
    let mut stdin_open = true;
    let mut half_closed = false;
    // What epoll said, remembered until a call says WouldBlock: no event
    // will say it again before then.
    let mut socket_readable = false;
    let mut socket_writable = false;
    let mut stdin_readable = false;
    let mut events = [EpollEvent::empty(); 2];
    loop {
        let can_read_stdin = stdin_readable && stdin_open && unsent.is_empty();
        let can_send = socket_writable && !unsent.is_empty();
        // Sleep only when nothing can be done without it.
        if !socket_readable && !can_send && !can_read_stdin {
            let ready = match epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(ready) => ready,
                Err(Errno::EINTR) => continue,
                Err(err) => {
                    eprintln!("epoll_wait failed: {err}");
                    return ExitCode::FAILURE;
                }
            };
            for event in &events[..ready] {
                let happened = event.events();
                let input = EpollFlags::EPOLLIN
                    | EpollFlags::EPOLLHUP
                    | EpollFlags::EPOLLERR;
                let output = EpollFlags::EPOLLOUT | EpollFlags::EPOLLERR;
                if event.data() == STDIN {
                    stdin_readable |= happened.intersects(input);
                } else {
                    socket_readable |= happened.intersects(input);
                    socket_writable |= happened.intersects(output);
                }
            }
            continue;
        }

        if socket_readable {
            // Every reply that has arrived, until WouldBlock.
            match (&*stream).read(&mut chunk) {
                Ok(0) => {
                    if stdin_open {
                        eprintln!("{addr} closed the connection");
                    }
                    return ExitCode::SUCCESS;
                }
                Ok(received) => {
                    let shown = stdout.write_all(&chunk[..received]);
                    if let Err(err) = shown.and_then(|()| stdout.flush()) {
                        eprintln!("could not print the reply: {err}");
                        return ExitCode::FAILURE;
                    }
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    socket_readable = false;
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => {
                    eprintln!("could not read from {addr}: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }

        if can_send {
            match (&*stream).write(&unsent) {
                Ok(sent) => {
                    unsent.drain(..sent);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    socket_writable = false;
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => {
                    eprintln!("could not write to {addr}: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }

        if can_read_stdin {
            match nix::unistd::read(stdin, &mut chunk) {
                Ok(0) => stdin_open = false,
                Ok(typed) => unsent.extend_from_slice(&chunk[..typed]),
                Err(Errno::EAGAIN) => stdin_readable = false,
                Err(Errno::EINTR) => {}
                Err(err) => {
                    eprintln!("could not read stdin: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }

        if !stdin_open && unsent.is_empty() && !half_closed {
            half_closed = true;
            if let Err(err) = stream.shutdown(Shutdown::Write) {
                eprintln!("could not shut down {addr} for writing: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// An epoll instance watching the socket (input and output) and stdin
/// (input), edge-triggered, for good: nothing is modified later.
fn watch(stream: &TcpStream, stdin: BorrowedFd) -> nix::Result<Epoll> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    let both = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT;
    epoll.add(stream.as_fd(), EpollEvent::new(both, SOCKET))?;
    let input = EpollFlags::EPOLLIN;
    // EPERM if stdin is a regular file: epoll watches only what can
    // become ready (a terminal, a pipe, a socket), and a file always is.
    epoll.add(stdin, EpollEvent::new(input, STDIN))?;
    Ok(epoll)
}
