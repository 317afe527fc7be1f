//! Exercise 5-1: a chat room on the select server.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch05-exercise-chat
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch05-exercise-chat --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
