//! A shell pipeline without the shell: `producer | consumer` as two guard children (started
//! without `fork`), joined by a guard pipe and entered in one scope. Each child's release
//! waits for it, so the scope returns how they ended: `Ok` when both succeed, and, when the
//! consumer fails, an error naming it with its exit code.
//!
//! `cargo run --release --example pipeline`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/pipeline.rs"]
mod pipeline;

use std::process::ExitCode;

fn main() -> ExitCode {
    let _rt = guard::runtime();
    common::section(pipeline::TITLE, pipeline::ABOUT);
    let outcome = pipeline::run();
    common::exit_code("pipeline", outcome.as_ref().map(|o| &o.verdict))
}
