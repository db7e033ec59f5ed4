//! Futurelocks (seed 002's ending; Oxide's RFD 609). A future polled by reference in
//! `tokio::select!` is queued on tokio's fair mutex when the holder releases it: the lock is
//! handed to that future, which `select!` never polls again, while the winning branch waits
//! for the same lock. Shown safely, on a thread the example abandons after a timeout. Then
//! the same program with guard-tokio's mutex completes; and a guard held by a future that is
//! not polled is named by guard's detector, with the lock's and the holder's sites.
//!
//! `cargo run --release --example futurelock`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/futurelock.rs"]
mod futurelock;

use std::process::ExitCode;

fn main() -> ExitCode {
    common::section(futurelock::TITLE, futurelock::ABOUT);
    let outcome = futurelock::run();
    common::exit_code("futurelock", outcome.as_ref().map(|o| &o.verdict))
}
