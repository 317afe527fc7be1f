//! Exercise 4-1: read whole frames.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch04-exercise-read-frame
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch04-exercise-read-frame --features solution

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-header-eof-is-goodbye"
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-header-eof-is-goodbye", not(feature = "solution")))]
#[path = "wrong/header-eof-is-goodbye.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
