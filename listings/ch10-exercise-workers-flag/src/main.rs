//! Exercise 10-1: choose the number of workers with --workers.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch10-exercise-workers-flag
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch10-exercise-workers-flag --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
