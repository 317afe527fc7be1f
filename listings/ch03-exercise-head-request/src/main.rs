//! Exercise 3-2: ask for the head only.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch03-exercise-head-request
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch03-exercise-head-request --features solution

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-read-to-the-end",
    feature = "wrong-one-read"
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-read-to-the-end", not(feature = "solution")))]
#[path = "wrong/read-to-the-end.rs"]
mod program;

#[cfg(all(feature = "wrong-one-read", not(feature = "solution")))]
#[path = "wrong/one-read.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
