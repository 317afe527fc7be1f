//! Exercise 14-2: sends COUNT lines to a server on ADDR, RATE a second,
//! and prints how long each reply took, in microseconds, one a line.
//! Make it keep the rate whatever the server does, and measure each reply
//! from when its line was due.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// The longest reply we read, newline included.
const MAX_LINE: u64 = 2048;
/// How long we wait for the server at most, for any one read.
const PATIENCE: Duration = Duration::from_secs(10);

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: ch14-exercise-coordinated-omission ADDR [RATE] [COUNT]";
    let (addr, rate, count) = match args.as_slice() {
        [addr] => (addr, Ok(100), Ok(1000)),
        [addr, rate] => (addr, rate.parse(), Ok(1000)),
        [addr, rate, count] => (addr, rate.parse(), count.parse()),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let (Ok(rate @ 1..), Ok(count)) = (rate, count) else {
        eprintln!("{usage}\nRATE (lines a second) and COUNT: whole numbers");
        return ExitCode::from(2);
    };
    let addr: SocketAddr = match addr.parse() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("bad address {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let stream = match TcpStream::connect(addr) {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("could not connect to {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let latencies = match measure(stream, rate, count) {
        Ok(latencies) => latencies,
        Err(err) => {
            eprintln!("the load stopped: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = latencies
        .iter()
        .try_for_each(|latency| writeln!(out, "{}", latency.as_micros()))
        .and_then(|()| out.flush());
    if let Err(err) = written {
        eprintln!("could not write the latencies: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

// ANCHOR: measure
/// Sends `count` lines, `rate` a second, and returns how long each reply
/// took.
fn measure(
    stream: TcpStream,
    rate: u32,
    count: u32,
) -> io::Result<Vec<Duration>> {
    stream.set_nodelay(true)?; // each line as soon as it is written
    stream.set_read_timeout(Some(PATIENCE))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut reply = String::new();
    for _ in 0..2 {
        read_line(&mut reader, &mut reply)?; // the welcome
    }
    let period = Duration::from_secs(1) / rate;
    let mut latencies = Vec::with_capacity(count as usize);
    for i in 0..count {
        let sent = Instant::now();
        writeln!(writer, "line {i}")?;
        read_line(&mut reader, &mut reply)?;
        if reply != format!("OK ... line {i}\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {i} was answered {reply:?}"),
            ));
        }
        latencies.push(sent.elapsed());
        // TODO: line i is due i/RATE seconds after the first, whatever
        // the server does; its latency starts when it is due.
        thread::sleep(period);
    }
    Ok(latencies)
}
// ANCHOR_END: measure

/// Reads one line of at most MAX_LINE bytes into `line` (cleared first).
fn read_line(
    reader: &mut BufReader<TcpStream>,
    line: &mut String,
) -> io::Result<()> {
    line.clear();
    io::Read::take(&mut *reader, MAX_LINE).read_line(line)?;
    if line.ends_with('\n') {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection, or sent too long a line",
        ))
    }
}
