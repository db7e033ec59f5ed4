//! Socket passing, the receiving side: [`listen_fds()`] takes the fds a parent passed the
//! systemd way ([`sd_listen_fds(3)`](https://man7.org/linux/man-pages/man3/sd_listen_fds.3.html)).
//! The sending side is part of a spawn plan: [`Inherit::listen_fds`](crate::Inherit::listen_fds).

mod env;
mod options;
mod receive;

pub use options::ListenOptions;
pub use receive::{ListenFds, listen_fds, listen_fds_unchecked};
