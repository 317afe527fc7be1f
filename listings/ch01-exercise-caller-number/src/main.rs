//! Exercise 1-1: number the callers.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch01-exercise-caller-number
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch01-exercise-caller-number --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-counter-in-loop")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-counter-in-loop", not(feature = "solution")))]
#[path = "wrong/counter-in-loop.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
