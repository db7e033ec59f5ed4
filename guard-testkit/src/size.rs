//! Stress sizes: the CI sizes normally, the issue's sizes under `GUARD_FULL=1`.

/// `GUARD_FULL=1` in the environment: run the stress tests at full size.
///
/// # Examples
///
/// ```
/// let _ = guard_testkit::full();
/// ```
pub fn full() -> bool {
    std::env::var_os("GUARD_FULL").is_some_and(|v| v == "1")
}

/// `ci` normally, `full` under `GUARD_FULL=1`.
///
/// # Examples
///
/// ```
/// assert!([10, 1000].contains(&guard_testkit::size(10, 1000)));
/// ```
pub fn size(ci: usize, full: usize) -> usize {
    if self::full() { full } else { ci }
}
