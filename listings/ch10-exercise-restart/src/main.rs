//! Exercise 10-1: restart without refusing a connection.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch10-exercise-restart
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch10-exercise-restart --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch10-exercise-restart --features wrong-kill-old-workers

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-kill-old-workers",
    feature = "wrong-bind-again",
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-kill-old-workers", not(feature = "solution")))]
#[path = "wrong/kill-old-workers.rs"]
mod program;

#[cfg(all(feature = "wrong-bind-again", not(feature = "solution")))]
#[path = "wrong/bind-again.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
