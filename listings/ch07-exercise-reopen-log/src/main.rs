//! Exercise 7-1: reopen the log on SIGHUP.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch07-exercise-reopen-log
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch07-exercise-reopen-log --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch07-exercise-reopen-log --features wrong-follows-links

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-follows-links",
    feature = "wrong-says-so-in-the-old-log",
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-follows-links", not(feature = "solution")))]
#[path = "wrong/follows-links.rs"]
mod program;

#[cfg(all(
    feature = "wrong-says-so-in-the-old-log",
    not(feature = "solution")
))]
#[path = "wrong/says-so-in-the-old-log.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
