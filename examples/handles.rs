//! A mutex is two resources. Python's `threading.Lock()` holds an OS mutex handle that only
//! a finaliser closes: harmless, because only how many handles are open matters. Holding
//! the lock is the other resource, and that one must end at a precise point (a `with`
//! block). guard makes the split explicit: the handle is counted (closed later, on the
//! finalizer thread), the acquisition unique (released at the end of its scope).
//!
//! `cargo run --release --example handles`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/handles.rs"]
mod handles;

use std::process::ExitCode;

fn main() -> ExitCode {
    let _rt = guard::runtime();
    common::section(handles::TITLE, handles::ABOUT);
    let outcome = handles::run();
    common::exit_code("handles", outcome.as_ref().map(|o| &o.verdict))
}
