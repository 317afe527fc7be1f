//! Exercise 13-2: ten replies a second per client.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch13-exercise-rate-limit
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch13-exercise-rate-limit --features solution

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-burst",
    feature = "wrong-blocking-sleep",
    feature = "wrong-ticking"
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-burst", not(feature = "solution")))]
#[path = "wrong/burst.rs"]
mod program;

#[cfg(all(
    feature = "wrong-blocking-sleep",
    not(any(feature = "solution", feature = "wrong-burst"))
))]
#[path = "wrong/blocking-sleep.rs"]
mod program;

#[cfg(all(
    feature = "wrong-ticking",
    not(any(
        feature = "solution",
        feature = "wrong-burst",
        feature = "wrong-blocking-sleep"
    ))
))]
#[path = "wrong/ticking.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
