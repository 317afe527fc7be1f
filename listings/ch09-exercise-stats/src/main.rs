//! Exercise 9-2: ask the parent how busy it is.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch09-exercise-stats
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch09-exercise-stats --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch09-exercise-stats --features wrong-counts-stats

#[cfg(not(any(feature = "solution", feature = "wrong-counts-stats",)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-counts-stats", not(feature = "solution")))]
#[path = "wrong/counts-stats.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
