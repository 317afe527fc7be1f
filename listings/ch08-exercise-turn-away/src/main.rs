//! Exercise 8-2: turn clients away when every slot is busy.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch08-exercise-turn-away
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch08-exercise-turn-away --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
