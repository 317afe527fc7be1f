//! Exercise 6-2: a chat room over UDP.
//!
//! Your work goes in `src/starter.rs`. Check it with
//!     cargo test -p ch06-exercise-udp-chat
//! The book's answer is `src/solution.rs`, checked by the same tests with
//!     cargo test -p ch06-exercise-udp-chat --features solution
//! and `src/wrong/` holds plausible wrong answers the tests must reject,
//! each built with its feature, such as
//!     cargo test -p ch06-exercise-udp-chat --features wrong-leave-exactly

#[cfg(not(any(
    feature = "solution",
    feature = "wrong-leave-exactly",
    feature = "wrong-back-to-sender",
    feature = "wrong-passes-on-rooms",
)))]
#[path = "starter.rs"]
mod program;

#[cfg(feature = "solution")]
#[path = "solution.rs"]
mod program;

#[cfg(all(feature = "wrong-leave-exactly", not(feature = "solution")))]
#[path = "wrong/leave-exactly.rs"]
mod program;

#[cfg(all(feature = "wrong-back-to-sender", not(feature = "solution")))]
#[path = "wrong/back-to-sender.rs"]
mod program;

#[cfg(all(feature = "wrong-passes-on-rooms", not(feature = "solution")))]
#[path = "wrong/passes-on-rooms.rs"]
mod program;

fn main() -> std::process::ExitCode {
    program::main()
}
