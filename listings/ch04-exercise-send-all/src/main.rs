//! Exercise 4-2: send it all without blocking.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch04-exercise-send-all
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch04-exercise-send-all --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-sleep-and-retry")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-sleep-and-retry", not(feature = "solution")))]
#[path = "wrong/sleep-and-retry.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
