//! Exercise 11-2: a graceful stop.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch11-exercise-graceful-stop
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch11-exercise-graceful-stop --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-exit-at-once")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-exit-at-once", not(feature = "solution")))]
#[path = "wrong/exit-at-once.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
