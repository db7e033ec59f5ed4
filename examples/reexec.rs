//! A zero-downtime re-exec. A server upgrading itself in place must pass its listening
//! socket to the new image, and nothing else: a client connection, log file or pipe that
//! leaks through exec stays open forever in a process that does not know it has it (clients
//! hang, files stay locked, readers never see EOF). guard's exec hygiene passes exactly the
//! fds it is given (`LISTEN_FDS` style), even past fds that other code opened without
//! `O_CLOEXEC`; meanwhile the socket stays open, so no client is refused. The new image takes
//! it back with `guard::os::listen_fds()` and `TcpListener::try_from`, without `unsafe`.
//!
//! `cargo run --release --example reexec`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/reexec.rs"]
mod reexec;
#[path = "scenarios/reexec_server.rs"]
mod reexec_server;
#[path = "scenarios/restarts.rs"]
mod restarts;

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = reexec_server::child_main() {
        return code;
    }
    let _rt = guard::runtime();
    common::section(reexec::TITLE, reexec::ABOUT);
    let outcome = std::env::current_exe()
        .map_err(common::Error::from)
        .and_then(|exe| reexec::run(&exe));
    common::exit_code("reexec", outcome.as_ref().map(|o| &o.verdict))
}
