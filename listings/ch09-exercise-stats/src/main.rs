//! Exercise 9-2: ask the parent how busy it is.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch09-exercise-stats
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch09-exercise-stats --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
