//! Exercise 8-1: change the number of client slots while the server runs.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch08-exercise-adjust-limit
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch08-exercise-adjust-limit --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch08-exercise-adjust-limit --features wrong-takes-the-last-slot

#[cfg(not(any(feature = "solution", feature = "wrong-takes-the-last-slot",)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-takes-the-last-slot", not(feature = "solution")))]
#[path = "wrong/takes-the-last-slot.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
