//! Pipes for a program's standard output or error that the test chose: one
//! whose reader is gone, one that nobody reads, one that is full already.
//! They show that a program's output never stops or kills it
//! ([`Process::spawn_with_stdout`](crate::Process::spawn_with_stdout) hands
//! one to the program).
//!
//! Every pipe here is made with `pipe2(O_CLOEXEC)`. nix's `pipe()` is not
//! close-on-exec: while one test holds such a pipe, a program that another
//! test starts at that moment inherits both of its ends, and a pipe whose
//! read end the test has closed is then not closed at all. Only the copy the
//! test hands to its program (as its stdout, say) reaches that program.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// A pipe, close-on-exec: (the end to read, the end to write).
#[track_caller]
pub fn pipe() -> (OwnedFd, OwnedFd) {
    match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(ends) => ends,
        Err(errno) => panic!("could not make a pipe: {errno}"),
    }
}

/// The write end of a pipe whose read end is already closed: a program's
/// stdout as in `cargo run ... | head -1` once `head` has exited. Every
/// write to it fails with `EPIPE` (and `println!` panics).
#[track_caller]
pub fn closed_pipe() -> OwnedFd {
    let (read_end, write_end) = pipe();
    drop(read_end);
    write_end
}

/// A pipe that nobody reads, made as small as Linux allows (one page, with
/// `F_SETPIPE_SZ`), so that a few dozen lines of log fill it: after that, a
/// program that waits until its write fits waits for ever. The test keeps
/// the read end open, and never reads.
pub struct UnreadPipe {
    /// Kept open, never read: without it, writes would fail instead.
    _read_end: OwnedFd,
    write_end: OwnedFd,
    capacity: usize,
}

impl UnreadPipe {
    /// An empty pipe of one page.
    #[track_caller]
    pub fn one_page() -> UnreadPipe {
        let (read_end, write_end) = pipe();
        let capacity = match fcntl(&write_end, FcntlArg::F_SETPIPE_SZ(4096)) {
            Ok(capacity) => capacity as usize,
            Err(errno) => panic!("could not shrink a pipe: {errno}"),
        };
        UnreadPipe {
            _read_end: read_end,
            write_end,
            capacity,
        }
    }

    /// A pipe of one page that is full already: a program's first write to
    /// it waits (it is blocking, as a program's stdout usually is).
    #[track_caller]
    pub fn full() -> UnreadPipe {
        let pipe = UnreadPipe::one_page();
        let mut filler = File::from(pipe.writer());
        if let Err(err) = filler.write_all(&vec![b'.'; pipe.capacity]) {
            panic!("could not fill a pipe of {} bytes: {err}", pipe.capacity);
        }
        assert!(pipe.is_full(), "a pipe holding its capacity is full");
        pipe
    }

    /// How many bytes the pipe holds (one page: 4096 bytes on most
    /// machines).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A copy of the write end, close-on-exec, to hand to a program (as
    /// `Stdio::from(pipe.writer())`). The pipe keeps its own.
    #[track_caller]
    pub fn writer(&self) -> OwnedFd {
        match self.write_end.try_clone() {
            Ok(copy) => copy,
            Err(err) => panic!("could not copy a pipe's write end: {err}"),
        }
    }

    /// Whether the pipe takes no more writes now: poll(2) says that a write
    /// would wait. (A pipe of one page says so as soon as anything waits in
    /// it, although a short write could still be added to that page.)
    #[track_caller]
    pub fn is_full(&self) -> bool {
        let mut fds = [PollFd::new(self.write_end.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO) == Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::os::fd::AsRawFd;
    use std::process::Command;

    use crate::Process;

    #[test]
    fn writing_to_a_closed_pipe_fails_with_epipe() {
        let mut writer = File::from(closed_pipe());
        // The test harness ignores SIGPIPE, as Rust programs do: the write
        // fails instead of killing the process.
        let err = writer.write_all(b"lost\n").expect_err("nobody can read");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    }

    #[test]
    fn an_unread_pipe_holds_one_page_and_then_is_full() {
        let pipe = UnreadPipe::one_page();
        assert!(!pipe.is_full(), "an empty pipe takes writes");
        assert!(pipe.capacity() >= 4096, "{}", pipe.capacity());
        let full = UnreadPipe::full();
        let writer = full.writer();
        fcntl(&writer, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("F_SETFL");
        let err = File::from(writer)
            .write_all(b"x")
            .expect_err("no room for one byte");
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
    }

    #[test]
    fn a_program_started_meanwhile_inherits_no_end_of_the_pipes() {
        let (read_end, write_end) = pipe();
        let unread = UnreadPipe::one_page();
        let me = std::process::id();
        let ours: Vec<String> = [&read_end, &write_end, &unread.write_end]
            .iter()
            .filter_map(|fd| {
                crate::procfs::fd_target(me, fd.as_raw_fd() as u32)
            })
            .map(|target| target.display().to_string())
            .collect();
        assert_eq!(ours.len(), 3, "{ours:?}");
        // A program that lists what its descriptors are, started while the
        // test holds the pipes.
        let mut command = Command::new("sh");
        command.args(["-c", "ls -l /proc/$$/fd"]);
        let run = Process::run_command(command);
        assert_eq!(run.code(), 0, "{run:?}");
        for pipe in ours {
            assert!(!run.stdout.contains(&pipe), "{pipe} was inherited");
        }
    }
}
