//! Exercise 10-1 (the book's answer): Listing 10-1, changed so that the
//! number of workers can be given on the command line, as `--workers N`.

use std::net::TcpListener;
use std::process::ExitCode;

use ch10_worker_pool::{
    default_addr, log, max_procs, spawn_worker, supervise, warn, work,
};

const USAGE: &str = "usage: ch10-exercise-workers-flag [--workers N] [ADDR]";

// ANCHOR: solution
/// The command line: `[--workers N] [ADDR]`, in either order. `None` means
/// the usage line is due.
fn parse_args(
    args: impl Iterator<Item = String>,
) -> Option<(Option<usize>, String)> {
    let mut workers = None;
    let mut addr = None;
    let mut args = args;
    while let Some(arg) = args.next() {
        if arg == "--workers" && workers.is_none() {
            // A flag given, but no number, or zero: a mistake, not a default.
            workers =
                Some(args.next()?.parse().ok().filter(|&n: &usize| n >= 1)?);
        } else if !arg.starts_with('-') && addr.is_none() {
            addr = Some(arg);
        } else {
            return None;
        }
    }
    Some((workers, addr.unwrap_or_else(default_addr)))
}

pub fn main() -> ExitCode {
    let Some((flag, addr)) = parse_args(std::env::args().skip(1)) else {
        warn(format_args!("{USAGE}"));
        return ExitCode::from(2);
    };
    // The command line wins over the environment, which wins over the default.
    let workers = match flag.map_or_else(max_procs, Ok) {
        Ok(workers) => workers,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };
    // ANCHOR_END: solution

    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            warn(format_args!("could not bind {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    supervise(workers, |_slot| spawn_worker(|| work(&listener)))
}
