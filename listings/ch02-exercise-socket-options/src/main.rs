//! Exercise 2-2: the options of a new socket.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch02-exercise-socket-options
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch02-exercise-socket-options --features solution

#[cfg(not(any(feature = "solution", feature = "wrong-nodelay-for-udp")))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-nodelay-for-udp", not(feature = "solution")))]
#[path = "wrong/nodelay-for-udp.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
