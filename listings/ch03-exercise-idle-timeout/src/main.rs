//! Exercise 3-1: hang up on a silent client.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch03-exercise-idle-timeout
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch03-exercise-idle-timeout --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-timed-out-only")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-timed-out-only", not(feature = "solution")))]
#[path = "wrong/timed-out-only.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
