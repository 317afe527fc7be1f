//! Listing 4-4: what a signal does to a blocking call. A timer sends SIGALRM
//! every 50 ms while the program blocks in read(), recv(MSG_WAITALL) and
//! write() on real TCP connections. Without SA_RESTART, a call that got
//! nothing fails with EINTR, and a call that got some bytes returns them,
//! short. With SA_RESTART, or with read_exact(), the program never notices.
//!
//! Run it with `cargo run -p ch04-eintr`.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use nix::libc::c_int;
use nix::sys::signal::{
    SaFlags, SigAction, SigEvent, SigHandler, SigSet, SigevNotify, Signal,
    sigaction,
};
use nix::sys::socket::{MsgFlags, recv};
use nix::sys::time::TimeSpec;
use nix::sys::timer::{Expiration, Timer, TimerSetTimeFlags};
use nix::time::ClockId;

/// Prints a line, as println! does, except that a closed stdout (`cargo run
/// ... | head -1`) ends the program with one line on stderr and status 1,
/// where println! would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

fn say(line: fmt::Arguments) {
    if let Err(err) = writeln!(io::stdout(), "{line}") {
        eprintln!("could not print: {err}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: handler
/// How many SIGALRMs have arrived.
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// The signal handler. It may only do what is safe at any moment, even in
/// the middle of a malloc(): adding to an atomic counter is.
extern "C" fn count_signal(_signal: c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

/// Installs `count_signal` for SIGALRM, with or without SA_RESTART.
fn install_handler(restart: bool) -> io::Result<()> {
    let flags = if restart {
        SaFlags::SA_RESTART
    } else {
        SaFlags::empty()
    };
    let action = SigAction::new(
        SigHandler::Handler(count_signal),
        flags,
        SigSet::empty(),
    );
    // SAFETY: sigaction() is unsafe because the handler runs in the middle of
    // whatever the program was doing. count_signal only touches an atomic
    // counter, which is safe to do at any moment.
    unsafe { sigaction(Signal::SIGALRM, &action) }?;
    Ok(())
}
// ANCHOR_END: handler

fn run() -> io::Result<()> {
    // ANCHOR: timer
    // A timer that sends this process SIGALRM every 50 ms, until dropped.
    let mut timer = Timer::new(
        ClockId::CLOCK_MONOTONIC,
        SigEvent::new(SigevNotify::SigevSignal {
            signal: Signal::SIGALRM,
            si_value: 0,
        }),
    )?;
    install_handler(false)?;
    let every = TimeSpec::from_duration(Duration::from_millis(50));
    timer.set(Expiration::Interval(every), TimerSetTimeFlags::empty())?;
    say!("a timer sends SIGALRM every 50 ms; the handler only counts them");
    // ANCHOR_END: timer

    interrupted_read()?;
    short_waitall()?;
    short_write()?;
    retried_read_exact()?;
    install_handler(true)?;
    restarted_read()?;
    drop(timer);
    Ok(())
}

/// A TCP connection on loopback: (one end, the other end).
fn connection() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let one = TcpStream::connect(listener.local_addr()?)?;
    let (other, _) = listener.accept()?;
    Ok((one, other))
}

// ANCHOR: interrupted
/// read() with nothing to read, and a signal arrives: EINTR.
fn interrupted_read() -> io::Result<()> {
    let (_writer, mut reader) = connection()?;
    let mut buffer = [0u8; 64];
    match reader.read(&mut buffer) {
        Err(err) if err.kind() == ErrorKind::Interrupted => {
            say!("read(), nothing to read: {err}");
            Ok(())
        }
        other => Err(io::Error::other(format!("read() returned {other:?}"))),
    }
}

/// recv(MSG_WAITALL) for 10 bytes, 4 of them there: the signal cuts it short.
fn short_waitall() -> io::Result<()> {
    let (mut writer, reader) = connection()?;
    writer.write_all(b"1234")?;
    let mut buffer = [0u8; 10];
    let got = recv(reader.as_raw_fd(), &mut buffer, MsgFlags::MSG_WAITALL)?;
    say!("recv(MSG_WAITALL) for 10 bytes, 4 there: returned {got} bytes");
    Ok(())
}

/// write() of 16 MiB that nobody reads: it fills the buffers, then blocks,
/// and the signal makes it return what it copied so far.
fn short_write() -> io::Result<()> {
    let (mut writer, _reader) = connection()?;
    let message = vec![b'x'; 16 * 1024 * 1024];
    let written = writer.write(&message)?;
    say!(
        "write() of {} bytes nobody reads: returned {written}",
        message.len()
    );
    Ok(())
}
// ANCHOR_END: interrupted

// ANCHOR: retried
/// Writes `bytes` to `writer` once `count` more signals have arrived. The
/// thread blocks SIGALRM, so that the signals interrupt the main thread.
fn send_after_signals(
    mut writer: TcpStream,
    count: usize,
    bytes: &'static [u8],
) -> thread::JoinHandle<io::Result<()>> {
    let start = SIGNALS.load(Ordering::Relaxed);
    thread::spawn(move || {
        SigSet::from(Signal::SIGALRM).thread_block()?;
        while SIGNALS.load(Ordering::Relaxed) < start + count {
            thread::sleep(Duration::from_millis(5));
        }
        writer.write_all(bytes)
    })
}

/// read_exact() retries a read() that failed with EINTR, by itself.
fn retried_read_exact() -> io::Result<()> {
    let (writer, mut reader) = connection()?;
    let sender = send_after_signals(writer, 3, b"hello\n");
    let mut message = [0u8; 6];
    reader.read_exact(&mut message)?;
    say!(
        "read_exact() slept through the signals and returned {:?}",
        String::from_utf8_lossy(&message)
    );
    join(sender)
}

/// With SA_RESTART, the kernel restarts the interrupted read() itself.
fn restarted_read() -> io::Result<()> {
    let (writer, mut reader) = connection()?;
    let sender = send_after_signals(writer, 3, b"hello\n");
    let mut buffer = [0u8; 64];
    let got = reader.read(&mut buffer)?;
    say!(
        "with SA_RESTART, read() slept through the signals and returned {:?}",
        String::from_utf8_lossy(&buffer[..got])
    );
    join(sender)
}
// ANCHOR_END: retried

fn join(sender: thread::JoinHandle<io::Result<()>>) -> io::Result<()> {
    sender.join().unwrap_or_else(|_| {
        Err(io::Error::other("the sending thread panicked"))
    })
}
