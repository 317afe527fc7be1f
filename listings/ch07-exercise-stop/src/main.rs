//! Exercise 7-2: stop the daemon, safely.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch07-exercise-stop
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch07-exercise-stop --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
