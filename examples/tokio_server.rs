//! A tokio server on guard's sockets, upgraded in place by re-exec: the listener is
//! guard's (registered, counted) while a multi-thread runtime serves on it; on `RESTART`
//! the server passes it to a re-executed copy of itself, which takes it with
//! `guard_tokio::listen::build` before its runtime starts. Clients are never refused.
//!
//! `cargo run --release --example tokio_server`

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/restarts.rs"]
mod restarts;
#[path = "scenarios/tokio_server.rs"]
mod tokio_server;
#[path = "scenarios/tokio_server_child.rs"]
mod tokio_server_child;

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = tokio_server_child::child_main() {
        return code;
    }
    common::section(tokio_server::TITLE, tokio_server::ABOUT);
    let outcome = std::env::current_exe()
        .map_err(common::Error::from)
        .and_then(|exe| tokio_server::run(&exe));
    common::exit_code("tokio_server", outcome.as_ref().map(|o| &o.verdict))
}
