//! Exercise 14-1: median, p99 and max in a fixed number of counters.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch14-exercise-percentiles
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch14-exercise-percentiles --features solution

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-off-by-one",
    feature = "wrong-linear"
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-off-by-one", not(feature = "solution")))]
#[path = "wrong/off-by-one.rs"]
mod program;

#[cfg(all(
    feature = "wrong-linear",
    not(any(feature = "solution", feature = "wrong-off-by-one"))
))]
#[path = "wrong/linear.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
