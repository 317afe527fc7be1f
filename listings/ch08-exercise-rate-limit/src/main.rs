//! Exercise 8-2: limit the rate of each client.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch08-exercise-rate-limit
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch08-exercise-rate-limit --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch08-exercise-rate-limit --features wrong-whole-address

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-whole-address",
    feature = "wrong-unbounded-table",
    feature = "wrong-refusals-count",
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-whole-address", not(feature = "solution")))]
#[path = "wrong/whole-address.rs"]
mod program;

#[cfg(all(feature = "wrong-unbounded-table", not(feature = "solution")))]
#[path = "wrong/unbounded-table.rs"]
mod program;

#[cfg(all(feature = "wrong-refusals-count", not(feature = "solution")))]
#[path = "wrong/refusals-count.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
