//! Exercise 6-1: a UDP client that retransmits, with backoff.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch06-exercise-retransmit
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch06-exercise-retransmit --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch06-exercise-retransmit --features wrong-no-break

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-no-break",
    feature = "wrong-three-tries",
    feature = "wrong-takes-any-reply",
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-no-break", not(feature = "solution")))]
#[path = "wrong/no-break.rs"]
mod program;

#[cfg(all(feature = "wrong-three-tries", not(feature = "solution")))]
#[path = "wrong/three-tries.rs"]
mod program;

#[cfg(all(feature = "wrong-takes-any-reply", not(feature = "solution")))]
#[path = "wrong/takes-any-reply.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
