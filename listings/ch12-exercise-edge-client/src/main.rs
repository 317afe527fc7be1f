//! Exercise 12-2: Listing 5-2's line client, on epoll, edge-triggered.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch12-exercise-edge-client
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch12-exercise-edge-client --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-level-triggered")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-level-triggered", not(feature = "solution")))]
#[path = "wrong/level-triggered.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
