//! Exercise 5-1: a chat room on the select server.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch05-exercise-chat
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch05-exercise-chat --features solution

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-unchecked-broadcast",
    feature = "wrong-unlimited-burst"
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-unchecked-broadcast", not(feature = "solution")))]
#[path = "wrong/unchecked-broadcast.rs"]
mod program;

#[cfg(all(feature = "wrong-unlimited-burst", not(feature = "solution")))]
#[path = "wrong/unlimited-burst.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
