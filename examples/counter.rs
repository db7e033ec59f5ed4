//! Lost updates (Slatkin, "Use Lock to Prevent Data Races in Threads"). Incrementing a
//! shared counter is a load, an add and a store: a thread that stores an old value
//! overwrites the increments other threads made in between, even though every single access
//! is atomic. The guarded counter holds a unique acquisition, released at the end of its
//! scope, for each increment, and gets exactly threads x iterations.
//!
//! `cargo run --release --example counter`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/counter.rs"]
mod counter;

use std::process::ExitCode;

fn main() -> ExitCode {
    let _rt = guard::runtime();
    common::section(counter::TITLE, counter::ABOUT);
    let outcome = counter::run(counter::THREADS, counter::ITERATIONS);
    common::exit_code("counter", outcome.as_ref().map(|o| &o.verdict))
}
