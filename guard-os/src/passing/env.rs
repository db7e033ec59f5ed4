//! The variables of the systemd socket-passing convention
//! ([`sd_listen_fds(3)`](https://man7.org/linux/man-pages/man3/sd_listen_fds.3.html)):
//! reading them, parsing `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`, and removing
//! them.

use crate::error::{Error, Result};
use std::ffi::OsString;

/// The variables of the convention, removed together. `LISTEN_PIDFDID` (the pidfd inode id
/// of the `LISTEN_PID` process, set beside it by newer systemd) is never read, but must go
/// with the others: left behind, it would sit stale next to the values a later
/// `Inherit::listen_fds` sets.
const LISTEN_VARS: [&str; 4] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "LISTEN_PIDFDID",
];

/// The convention's variables, as found.
pub(super) struct Vars {
    pub(super) pid: Option<OsString>,
    pub(super) fds: Option<OsString>,
    pub(super) names: Option<OsString>,
}

impl Vars {
    /// The variables; `None` if none is set.
    pub(super) fn read() -> Option<Vars> {
        let [pid, fds, names, pidfdid] = LISTEN_VARS.map(std::env::var_os);
        let any = pid.is_some() || fds.is_some() || names.is_some() || pidfdid.is_some();
        any.then_some(Vars { pid, fds, names })
    }
}

/// Removes [`LISTEN_VARS`] (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`,
/// `LISTEN_PIDFDID`) from this process's environment
/// (`std::env::remove_var`, which is `unsetenv(3)` under std's environment lock).
///
/// # Safety
///
/// `std::env::remove_var`'s: while this runs, no other thread may read or write the
/// environment other than through `std::env` (which takes the same lock): no
/// `getenv(3)`/`setenv(3)` from C code, no reads of `environ`.
pub(super) unsafe fn remove_listen_vars() {
    for var in LISTEN_VARS {
        // SAFETY: this function's contract is exactly `remove_var`'s, and the caller upholds it.
        unsafe { std::env::remove_var(var) };
    }
}

/// Parses a decimal `var`, which `ok` must accept.
pub(super) fn parse<T: std::str::FromStr>(
    var: &'static str,
    value: &OsString,
    reason: &'static str,
    ok: impl Fn(&T) -> bool,
) -> Result<T> {
    let text = value
        .to_str()
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()));
    match text.and_then(|t| t.parse().ok()).filter(ok) {
        Some(v) => Ok(v),
        None => Err(invalid(var, value, reason)),
    }
}

/// `LISTEN_FDNAMES`: `n` names separated by `:`.
pub(super) fn split_names(value: &OsString, n: usize) -> Result<Vec<String>> {
    let reason = "not one name per passed fd, separated by `:`";
    let names: Vec<String> = match value.to_str() {
        Some(text) => text.split(':').map(str::to_owned).collect(),
        None => return Err(invalid("LISTEN_FDNAMES", value, reason)),
    };
    if names.len() != n {
        return Err(invalid("LISTEN_FDNAMES", value, reason));
    }
    Ok(names)
}

fn invalid(var: &'static str, value: &OsString, reason: &'static str) -> Error {
    Error::ListenFdsInvalid {
        var,
        value: value.to_string_lossy().into_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> OsString {
        s.into()
    }

    #[test]
    fn parses_the_convention_strictly() {
        let pid = |s: &str| parse::<u32>("LISTEN_PID", &os(s), "r", |&p| p > 0);
        assert_eq!(pid("42").unwrap(), 42);
        for bad in ["", "0", "-1", "+1", " 1", "1 ", "x", "4294967296"] {
            let e = pid(bad).unwrap_err();
            assert!(
                matches!(&e, Error::ListenFdsInvalid { var: "LISTEN_PID", value, .. } if value == bad),
                "{bad:?}: {e}"
            );
        }
        assert_eq!(split_names(&os("a:b"), 2).unwrap(), ["a", "b"]);
        assert_eq!(split_names(&os("a::"), 3).unwrap(), ["a", "", ""]);
        assert!(split_names(&os("a:b"), 3).is_err());
        assert!(split_names(&os(""), 2).is_err());
    }
}
