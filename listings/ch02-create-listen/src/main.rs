//! Listing 2-2: what `socket_create_listen()` does, one system call at a
//! time: socket, bind and listen, then getsockname to learn which port the
//! kernel chose. Each call is answered by hanging up, after printing who
//! called and which of our addresses they dialled.
//!
//! Run it with `cargo run -p ch02-create-listen [ADDR]` (default 127.0.0.1:0:
//! loopback, any free port).

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use socket2::{Domain, Protocol, Socket, Type};

fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 0.
    let mut args = std::env::args().skip(1);
    let arg = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let addr: SocketAddr = match arg.parse() {
        Ok(addr) if args.next().is_none() => addr,
        _ => {
            eprintln!("usage: ch02-create-listen [ADDR]");
            return ExitCode::from(2);
        }
    };

    // ANCHOR: main
    let listener = match listen(addr) {
        Ok(listener) => listener,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    // getsockname(): which address and port we got. With port 0, nothing
    // else can tell us which port the kernel chose.
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {local}");

    loop {
        let (stream, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                eprintln!("could not accept a call: {err}");
                continue;
            }
        };
        // getsockname() on the accepted socket: the address the caller
        // dialled. When we listen on 0.0.0.0, that says more than 0.0.0.0.
        match stream.local_addr() {
            Ok(dialled) => println!("call from {peer} to {dialled}"),
            Err(err) => {
                eprintln!("could not read the address {peer} called: {err}");
            }
        }
        // `stream` is dropped here: we hang up.
    }
    // ANCHOR_END: main
}

// ANCHOR: listen
/// socket_create_listen(), spelled out: socket, setsockopt, bind, listen.
fn listen(addr: SocketAddr) -> Result<TcpListener, String> {
    // socket(): a TCP socket of the address's family, AF_INET or AF_INET6.
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
        .map_err(|err| {
            format!("could not create a socket for {addr}: {err}")
        })?;
    // setsockopt(SO_REUSEADDR) before bind(), so that a restarted server
    // gets its port back while the last run's connections are in TIME_WAIT.
    socket.set_reuse_address(true).map_err(|err| {
        format!("could not set SO_REUSEADDR on {addr}: {err}")
    })?;
    // bind(): the address and port; port 0 asks the kernel for a free port.
    socket
        .bind(&addr.into())
        .map_err(|err| format!("could not bind {addr}: {err}"))?;
    // listen(): from now on the kernel completes handshakes by itself and
    // queues up to 128 finished connections for accept().
    socket
        .listen(128)
        .map_err(|err| format!("could not listen on {addr}: {err}"))?;
    Ok(TcpListener::from(socket))
}
// ANCHOR_END: listen
