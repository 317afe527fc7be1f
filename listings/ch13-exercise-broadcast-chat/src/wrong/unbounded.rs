//! Exercise 13-1, a wrong answer: a channel per client, without a bound.
//! Nobody ever falls behind; a client that never reads makes the server
//! keep every line said since, and memory grows without end.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::sleep;

/// The longest line a client may send, newline included.
const MAX_LINE: usize = 1024;

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
    let room: Room = Arc::new(Mutex::new(HashMap::new()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(connection) => connection,
            Err(err) => {
                eprintln!("could not accept a connection: {err}");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tell, heard) = mpsc::unbounded_channel();
        if let Ok(mut members) = room.lock() {
            members.insert(peer, tell);
        }
        tokio::spawn(chat(stream, peer, room.clone(), heard));
    }
}

/// Each client's queue of lines to send it.
type Room = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Arc<str>>>>>;

async fn chat(
    stream: TcpStream,
    peer: SocketAddr,
    room: Room,
    mut heard: mpsc::UnboundedReceiver<Arc<str>>,
) {
    // Many small writes, each one a line someone waits for: send each at
    // once, instead of holding it until the last one is acknowledged
    // (Nagle's algorithm, chapter 4).
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let welcome = format!("Welcome, {peer}\n");
    if writer.write_all(welcome.as_bytes()).await.is_ok() {
        let mut line = Vec::new();
        loop {
            tokio::select! {
                read = read_line(&mut reader, &mut line) => {
                    let Ok(true) = read else { break };
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end_matches(['\n', '\r']);
                    let said: Arc<str> = format!("{peer}: {text}\n").into();
                    if let Ok(members) = room.lock() {
                        for (member, tell) in members.iter() {
                            if *member != peer {
                                let _ = tell.send(said.clone());
                            }
                        }
                    }
                    let reply = format!("OK ... {text}\n");
                    if writer.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                    line.clear();
                }
                said = heard.recv() => match said {
                    Some(said) => {
                        if writer.write_all(said.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
    }
    if let Ok(mut members) = room.lock() {
        members.remove(&peer);
    }
}

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
