//! A registry of every live fd (Wingo, "unexpected concurrency"). A table of fds with a
//! `for_each` that closes or keeps them before exec is shared state: other threads and
//! finalisers close entries while a pass runs, a failed close leaves a closed (and soon
//! reused) number in the table, a callback raises halfway. guard's `fds().for_each` leases
//! each entry while its callback runs, so closes wait for the visit and happen exactly once.
//!
//! `cargo run --release --example fd_registry`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/fd_registry.rs"]
mod fd_registry;
#[path = "scenarios/fd_registry_faults.rs"]
mod fd_registry_faults;

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = fd_registry_faults::child_main() {
        return code;
    }
    let _rt = guard::runtime();
    common::section(fd_registry::TITLE, fd_registry::ABOUT);
    let outcome = std::env::current_exe()
        .map_err(common::Error::from)
        .and_then(|exe| fd_registry::run(&exe));
    common::exit_code("fd_registry", outcome.as_ref().map(|o| &o.verdict))
}
