//! Exercise 13-1: a chat room on tokio's broadcast channel.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch13-exercise-broadcast-chat
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch13-exercise-broadcast-chat --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-unbounded")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-unbounded", not(feature = "solution")))]
#[path = "wrong/unbounded.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
