//! Exercise 8-1: change the number of client slots while the server runs.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch08-exercise-adjust-limit
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch08-exercise-adjust-limit --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
