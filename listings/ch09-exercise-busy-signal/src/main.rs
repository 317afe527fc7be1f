//! Exercise 9-1: turn clients away when every slot is busy.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch09-exercise-busy-signal
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch09-exercise-busy-signal --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch09-exercise-busy-signal --features wrong-listener-left-out

#[cfg(not(any(feature = "solution", feature = "wrong-listener-left-out",)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-listener-left-out", not(feature = "solution")))]
#[path = "wrong/listener-left-out.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
