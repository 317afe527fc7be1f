//! Exercise 7-2: stop the daemon, safely.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch07-exercise-stop
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch07-exercise-stop --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch07-exercise-stop --features wrong-trusts-the-pid-file

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-trusts-the-pid-file",
    feature = "wrong-lock-only",
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-trusts-the-pid-file", not(feature = "solution")))]
#[path = "wrong/trusts-the-pid-file.rs"]
mod program;

#[cfg(all(feature = "wrong-lock-only", not(feature = "solution")))]
#[path = "wrong/lock-only.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
