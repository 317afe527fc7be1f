//! Exercise 12-1: Listing 12-2, letting every idle client go on time.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch12-exercise-idle-deadlines
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch12-exercise-idle-deadlines --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-polling")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-polling", not(feature = "solution")))]
#[path = "wrong/polling.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
