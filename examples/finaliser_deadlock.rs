//! Finaliser deadlocks (Tratt, "Async and Finaliser Deadlocks"; Boehm 2002). A release that
//! locks a mutex deadlocks when it runs on a thread that already holds that mutex, and a
//! plain `Drop` runs exactly there, at the drop. Shown safely: the plain `Drop` runs on a
//! thread the example abandons after a timeout. Then the same release as a counted resource
//! runs on guard's finalizer thread and completes.
//!
//! `cargo run --release --example finaliser_deadlock`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/finaliser_deadlock.rs"]
mod finaliser_deadlock;

use std::process::ExitCode;

fn main() -> ExitCode {
    let _rt = guard::runtime();
    common::section(finaliser_deadlock::TITLE, finaliser_deadlock::ABOUT);
    let outcome = finaliser_deadlock::run();
    common::exit_code("finaliser_deadlock", outcome.as_ref().map(|o| &o.verdict))
}
