//! Leaf resources for the tests: each release appends to a shared log, and may fail or
//! panic on request, so the tests observe real behaviour (order, attempts, threads).

#![allow(dead_code)] // each test file uses a different subset

use guard::{CountedResource, Resource, UniqueResource};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// What the tests observed, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Self {
        Log::default()
    }

    pub fn push(&self, entry: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry.into());
    }

    pub fn entries(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How a leaf's release goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    Panic,
}

/// The error a failing leaf returns.
#[derive(Debug)]
pub struct LeafError(pub &'static str);

impl fmt::Display for LeafError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.0)
    }
}

impl std::error::Error for LeafError {}

fn release_leaf(name: &'static str, log: &Log, outcome: Outcome) -> Result<(), LeafError> {
    log.push(name);
    match outcome {
        Outcome::Ok => Ok(()),
        Outcome::Fail => Err(LeafError(name)),
        Outcome::Panic => panic!("{name} panicked"),
    }
}

/// A unique leaf: a lock acquisition, a writable file.
pub struct Unique {
    name: &'static str,
    log: Log,
    outcome: Outcome,
}

impl Unique {
    pub fn new(name: &'static str, log: &Log) -> Self {
        Unique {
            name,
            log: log.clone(),
            outcome: Outcome::Ok,
        }
    }

    pub fn with(name: &'static str, log: &Log, outcome: Outcome) -> Self {
        Unique {
            name,
            log: log.clone(),
            outcome,
        }
    }
}

impl Resource for Unique {
    type Error = LeafError;
    fn release(self) -> Result<(), LeafError> {
        release_leaf(self.name, &self.log, self.outcome)
    }
}

impl UniqueResource for Unique {}

/// A counted leaf, fd-like: its release records the thread it ran on.
pub struct Fd {
    name: &'static str,
    log: Log,
    outcome: Outcome,
}

impl Fd {
    pub fn new(name: &'static str, log: &Log) -> Self {
        Fd {
            name,
            log: log.clone(),
            outcome: Outcome::Ok,
        }
    }

    pub fn with(name: &'static str, log: &Log, outcome: Outcome) -> Self {
        Fd {
            name,
            log: log.clone(),
            outcome,
        }
    }
}

impl Resource for Fd {
    type Error = LeafError;
    fn release(self) -> Result<(), LeafError> {
        let thread = std::thread::current();
        self.log.push(format!(
            "{} on {}",
            self.name,
            thread.name().unwrap_or("<unnamed>")
        ));
        release_leaf(self.name, &Log::new(), self.outcome)
    }
}

impl CountedResource for Fd {}

/// The text of every `Unreleased` event for a type whose name contains `suffix`, sent
/// while `f` runs, with the line of its origin's site. Tests share the one event hook, so
/// each runs under one lock.
pub fn reports_of(suffix: &'static str, f: impl FnOnce()) -> Vec<(String, u32)> {
    use guard::event::{self, Event};
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    event::set_hook(move |e| {
        if let Event::Unreleased { origin, .. } = e
            && origin.type_name().contains(suffix)
        {
            sink.lock()
                .unwrap()
                .push((e.to_string(), origin.site().line()));
        }
    });
    f();
    event::reset_hook();
    std::mem::take(&mut *seen.lock().unwrap())
}
