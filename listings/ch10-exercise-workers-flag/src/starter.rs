//! Exercise 10-1 (your work): Listing 10-1, to be changed so that the number
//! of workers can be given on the command line, as `--workers N`. The TODO
//! comments mark the spots.

use std::net::TcpListener;
use std::process::ExitCode;

use ch10_worker_pool::{
    default_addr, log, max_procs, spawn_worker, supervise, warn, work,
};

// TODO: show `[--workers N]` in the usage line too.
const USAGE: &str = "usage: ch10-exercise-workers-flag [ADDR]";

pub fn main() -> ExitCode {
    // ANCHOR: task
    // TODO: accept `--workers N` (N at least 1) before or after ADDR. It
    // wins over MAX_PROCS; a missing or bad N prints the usage line.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("{USAGE}"));
        return ExitCode::from(2);
    }
    let workers = match max_procs() {
        Ok(workers) => workers,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };
    // ANCHOR_END: task

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
