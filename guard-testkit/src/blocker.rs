//! A counted resource that holds the finalizer up, so that releases queued behind it are
//! still pending when a test looks (fd pressure, EMFILE at every creation path).

use guard_core::{CountedResource, Resource};
use std::convert::Infallible;
use std::time::Duration;

/// A counted resource whose release sleeps for the given time, then succeeds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// drop(guard_core::Counted::new(guard_testkit::Blocker(Duration::from_millis(10))));
/// guard_core::finalizer::flush().unwrap();
/// ```
#[derive(Debug)]
pub struct Blocker(pub Duration);

impl Resource for Blocker {
    type Error = Infallible;
    fn release(self) -> Result<(), Infallible> {
        std::thread::sleep(self.0);
        Ok(())
    }
}
impl CountedResource for Blocker {}
