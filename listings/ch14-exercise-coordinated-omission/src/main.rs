//! Exercise 14-2: a load generator that sends at a fixed rate and measures
//! each reply from when its line was due.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch14-exercise-coordinated-omission
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch14-exercise-coordinated-omission --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-slipping")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-slipping", not(feature = "solution")))]
#[path = "wrong/slipping.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
