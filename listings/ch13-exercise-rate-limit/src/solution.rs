// [starter]
// //! Exercise 13-2: every line is answered `OK ... <line>`. Make the server
// //! answer each client RATE lines a second at most, the first at once.
// [solution]
//! Exercise 13-2, the book's answer: every line is answered `OK ... <line>`,
//! but at most RATE lines a second for each client. The first reply comes
//! at once; the rest wait their turn, and none is dropped.
// [end]

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
// [starter]
// use tokio::time::sleep;
// [solution]
use tokio::time::{MissedTickBehavior, interval, sleep};
// [end]

/// The longest line a client may send, newline included.
const MAX_LINE: usize = 1024;
/// How many replies a second a client gets, at most.
// [starter]
// #[allow(dead_code)] // until you use it
// [solution]
// [end]
const RATE: u32 = 10;

pub fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch13-exercise-rate-limit [ADDR]");
        return ExitCode::from(2);
    }
    // One thread for every client, as in chapter 5: a task that blocks
    // stops them all.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("could not start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(addr))
}

async fn serve(addr: String) -> ExitCode {
    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => {
            // The one line of log, before any client: nothing to stall.
            let _ = writeln!(io::stdout(), "listening on {local}");
        }
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream));
            }
            Err(err) => {
                eprintln!("could not accept a connection: {err}");
                sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

// [starter]
// // ANCHOR: task
// /// Answers one client's lines.
// [solution]
/// Answers one client's lines, RATE a second at most.
// [end]
async fn answer(stream: TcpStream) {
    let _ = stream.set_nodelay(true); // each reply as soon as it is due
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    // [starter]
    // [solution]
    // ANCHOR: solution_pace
    // A tick every 1/RATE second; the first tick is at once. Delay: a tick
    // that comes late (the client was quiet) is the start of a new count,
    // not a debt that the next ticks pay back all at once.
    let mut pace = interval(Duration::from_secs(1) / RATE);
    pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // ANCHOR_END: solution_pace
    // [end]
    let mut line = Vec::new();
    while let Ok(true) = read_line(&mut reader, &mut line).await {
        // [starter]
        // // TODO: at most RATE replies a second; the first one at once.
        // [solution]
        // ANCHOR: solution_tick
        // The clock is only looked at when a reply is due: an idle client
        // has no timer armed, and costs the server nothing.
        pace.tick().await;
        // ANCHOR_END: solution_tick
        // [end]
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let mut reply = b"OK ... ".to_vec();
        reply.extend_from_slice(text);
        reply.push(b'\n');
        if writer.write_all(&reply).await.is_err() {
            return;
        }
        line.clear();
    }
}
// [starter]
// // ANCHOR_END: task
// [solution]
// [end]

/// Reads one line of at most MAX_LINE bytes into `line`. Ok(false) at the
/// end of the stream or for a line too long.
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> io::Result<bool> {
    let room = MAX_LINE.saturating_sub(line.len()) as u64;
    (&mut *reader).take(room).read_until(b'\n', line).await?;
    Ok(line.ends_with(b"\n"))
}
