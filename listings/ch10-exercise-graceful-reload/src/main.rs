//! Exercise 10-2: replace the workers gracefully on SIGHUP.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch10-exercise-graceful-reload
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch10-exercise-graceful-reload --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch10-exercise-graceful-reload --features wrong-terminates-old-workers

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-terminates-old-workers",
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(
    feature = "wrong-terminates-old-workers",
    not(feature = "solution")
))]
#[path = "wrong/terminates-old-workers.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
