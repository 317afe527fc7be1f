//! Exercise 6-2: a chat room over UDP.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch06-exercise-udp-chat
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch06-exercise-udp-chat --features solution

#[cfg(not(feature = "solution"))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
