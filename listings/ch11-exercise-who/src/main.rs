//! Exercise 11-1: who is here?
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch11-exercise-who
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch11-exercise-who --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-off-only-on-goodbye")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-off-only-on-goodbye", not(feature = "solution")))]
#[path = "wrong/off-only-on-goodbye.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
