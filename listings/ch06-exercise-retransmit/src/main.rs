//! Exercise 6-1: a UDP client that retransmits, with backoff.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch06-exercise-retransmit
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch06-exercise-retransmit --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
