//! Shared test resources and the watchdog every blocking test runs under.

#![allow(dead_code)]

use guard_core::{CountedResource, Resource, UniqueResource};
use std::sync::{Arc, Mutex};

/// A stress size: `n`, or a few rounds under Miri (which checks each access, not volume).
pub fn rounds(n: usize) -> usize {
    if cfg!(miri) { (n / 500).max(4) } else { n }
}

/// Runs `f` on its own thread and fails the test if it does not finish within `limit`
/// (a deadlock fails, never hangs; the limit is scaled under Miri).
#[allow(unused_imports)] // not every test binary watches a step
pub use guard_testkit::watchdog;

/// A shared log of what was released, in order, with the releasing thread's name.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<(String, String)>>>);

impl Log {
    pub fn push(&self, what: &str) {
        let thread = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        self.0.lock().unwrap().push((what.to_owned(), thread));
    }
    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(w, _)| w.clone())
            .collect()
    }
    pub fn threads(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }
    pub fn count(&self, what: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w == what)
            .count()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// What a test resource does when released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    Succeed,
    Fail,
    Panic,
}

/// A resource that logs its release under its name, then succeeds, fails or panics.
pub struct Probe {
    pub name: String,
    pub log: Log,
    pub then: Then,
}

impl Probe {
    pub fn new(name: &str, log: &Log) -> Self {
        Probe {
            name: name.to_owned(),
            log: log.clone(),
            then: Then::Succeed,
        }
    }
    pub fn failing(name: &str, log: &Log) -> Self {
        Probe {
            then: Then::Fail,
            ..Probe::new(name, log)
        }
    }
    pub fn panicking(name: &str, log: &Log) -> Self {
        Probe {
            then: Then::Panic,
            ..Probe::new(name, log)
        }
    }
}

impl Resource for Probe {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        self.log.push(&self.name);
        match self.then {
            Then::Succeed => Ok(()),
            Then::Fail => Err(std::io::Error::other(format!(
                "{} failed to close",
                self.name
            ))),
            Then::Panic => panic!("{} panicked in release", self.name),
        }
    }
}
impl UniqueResource for Probe {}
impl CountedResource for Probe {}
