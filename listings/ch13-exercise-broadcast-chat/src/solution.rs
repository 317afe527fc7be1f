// [starter]
// //! Exercise 13-1: a chat room on tokio's broadcast channel. For now, each
// //! client is only answered `OK ... <line>`; the TODO comments mark the
// //! places to change.
// [solution]
//! Exercise 13-1, the book's answer: every line a client sends goes to every
//! other client, through one tokio::sync::broadcast channel; a client that
//! falls more than LAG lines behind is told so and let go.
// [end]

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
// [starter]
// [solution]
use std::sync::Arc;
// [end]
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
// [starter]
// [solution]
use tokio::sync::broadcast::{self, error::RecvError};
// [end]
use tokio::time::sleep;

/// The longest line a client may send, newline included.
const MAX_LINE: usize = 1024;
/// How many lines a client may fall behind the room before it is let go.
// [starter]
// #[allow(dead_code)] // until you use it
// [solution]
// [end]
const LAG: usize = 64;

pub fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch13-exercise-broadcast-chat [ADDR]");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
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
    // [starter]
    // // ANCHOR: task
    // // TODO: make one broadcast channel for the room, subscribe each client
    // // before its task starts, and hand both to `chat`.
    // [solution]
    // ANCHOR: solution_room
    // One channel for the room. It keeps the last LAG lines said; a
    // receiver that has not taken a line before LAG newer ones arrive
    // loses it, and its next recv() says how many it lost.
    let (room, _) = broadcast::channel::<Said>(LAG);
    // ANCHOR_END: solution_room
    // [end]
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(connection) => connection,
            Err(err) => {
                eprintln!("could not accept a connection: {err}");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // [starter]
        // tokio::spawn(chat(stream, peer));
        // [solution]
        // ANCHOR: solution_subscribe
        // Subscribed here, before the welcome is sent: the client hears
        // every line said after its welcome, and none said before.
        let heard = room.subscribe();
        tokio::spawn(chat(stream, peer, room.clone(), heard));
        // ANCHOR_END: solution_subscribe
        // [end]
    }
}

// [starter]
// /// One client in the room, until it leaves.
// async fn chat(stream: TcpStream, peer: SocketAddr) {
// [solution]
// ANCHOR: solution_chat
/// A line said in the room, and who said it. Cloned once per listener, so
/// the text is shared, not copied.
#[derive(Clone)]
struct Said {
    by: SocketAddr,
    text: Arc<str>,
}

/// One client in the room, until it leaves or falls too far behind.
async fn chat(
    stream: TcpStream,
    peer: SocketAddr,
    room: broadcast::Sender<Said>,
    mut heard: broadcast::Receiver<Said>,
) {
    // ANCHOR_END: solution_chat
    // [end]
    // Many small writes, each one a line someone waits for: send each at
    // once, instead of holding it until the last one is acknowledged
    // (Nagle's algorithm, chapter 4).
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let welcome = format!("Welcome, {peer}\n");
    if writer.write_all(welcome.as_bytes()).await.is_err() {
        return;
    }
    let mut line = Vec::new();
    // [starter]
    // // TODO: wait for the client's next line and for the room's next line
    // // at once (tokio::select!), pass the client's lines on to the room,
    // // and write the others' lines to the client. A client that fell more
    // // than LAG lines behind is told how many it missed, and let go.
    // while let Ok(true) = read_line(&mut reader, &mut line).await {
    //     let text = String::from_utf8_lossy(&line);
    //     let text = text.trim_end_matches(['\n', '\r']);
    //     let reply = format!("OK ... {text}\n");
    //     if writer.write_all(reply.as_bytes()).await.is_err() {
    //         return;
    //     }
    //     line.clear();
    // }
    // [solution]
    // ANCHOR: solution_loop
    loop {
        tokio::select! {
            read = read_line(&mut reader, &mut line) => {
                let Ok(true) = read else { return };
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                // Err only means nobody else is in the room. Said before
                // the reply, so that the reply means "the room has it".
                let _ = room.send(Said { by: peer, text: text.into() });
                let reply = format!("OK ... {text}\n");
                if writer.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
                line.clear();
            }
            said = heard.recv() => match said {
                Ok(said) if said.by == peer => {} // its own line
                Ok(said) => {
                    let out = format!("{}: {}\n", said.by, said.text);
                    if writer.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let goodbye = format!(
                        "Sorry, you fell {missed} lines behind. Goodbye.\n"
                    );
                    let _ = writer.write_all(goodbye.as_bytes()).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
    // ANCHOR_END: solution_loop
    // [end]
}
// [starter]
// // ANCHOR_END: task
// [solution]
// [end]

/// Reads one line of at most MAX_LINE bytes into `line`. Ok(false) at the
/// end of the stream or for a line too long. Cancel safe: what it read
/// stays in `line`, and the next call goes on from there.
async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> io::Result<bool> {
    let room = MAX_LINE.saturating_sub(line.len()) as u64;
    (&mut *reader).take(room).read_until(b'\n', line).await?;
    Ok(line.ends_with(b"\n"))
}
