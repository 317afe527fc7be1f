//! Exercise 5-2: the select server, with poll(2) instead of select(2).
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch05-exercise-poll
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch05-exercise-poll --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-select-limits-kept")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-select-limits-kept", not(feature = "solution")))]
#[path = "wrong/select-limits-kept.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
