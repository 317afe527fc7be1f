//! Exercise 2-1: where does a name lead?
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch02-exercise-addrinfo
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch02-exercise-addrinfo --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-always-success")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-always-success", not(feature = "solution")))]
#[path = "wrong/always-success.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
