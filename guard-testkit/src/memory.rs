//! The process's resident memory, for tests that bound it.

/// The resident set size of this process, in bytes (`VmRSS` in `/proc/self/status`).
///
/// # Panics
///
/// If `/proc/self/status` cannot be read or has no `VmRSS` line (not Linux).
///
/// # Examples
///
/// ```
/// assert!(guard_testkit::rss() > 0);
/// ```
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("a VmRSS line in kB");
    kib * 1024
}
