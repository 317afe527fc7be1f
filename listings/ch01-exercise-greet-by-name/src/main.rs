//! Exercise 1-2: greet the caller by name.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch01-exercise-greet-by-name
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch01-exercise-greet-by-name --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-unbounded-name")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-unbounded-name", not(feature = "solution")))]
#[path = "wrong/unbounded-name.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
