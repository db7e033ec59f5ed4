//! Shared by the async scope tests: resources whose release awaits and logs, a future
//! that yields once, a manual poller, and the event hook captured.

#![allow(dead_code)]

use guard_tokio::AsyncRelease;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Pending once (waking its task at once), then ready: an await point that needs no runtime.
#[derive(Default)]
pub struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// What happened, in order: entries and releases by name.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push(what.into());
    }
    pub fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// How a [`Step`]'s release ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Ok,
    Fail,
    Panic,
}

/// A resource whose release awaits `yields` times, logs `released NAME`, then ends as told.
pub struct Step {
    pub name: &'static str,
    log: Log,
    yields: usize,
    end: End,
}

impl Step {
    /// Logs `entered NAME` (it is made where it is entered).
    pub fn new(name: &'static str, log: &Log, yields: usize, end: End) -> Step {
        log.push(format!("entered {name}"));
        Step {
            name,
            log: log.clone(),
            yields,
            end,
        }
    }
}

impl AsyncRelease for Step {
    type Error = std::io::Error;
    async fn release_async(self) -> std::io::Result<()> {
        for _ in 0..self.yields {
            YieldOnce::default().await;
        }
        self.log.push(format!("released {}", self.name));
        match self.end {
            End::Ok => Ok(()),
            End::Fail => Err(std::io::Error::other(format!("{} failed", self.name))),
            End::Panic => panic!("{} panicked", self.name),
        }
    }
}

/// `future`'s output, or the panic it raised.
pub async fn catch<F: Future>(future: F) -> std::thread::Result<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await
}

/// Polls `future` at most `n` times with a waker that does nothing (every await point in
/// these tests wakes itself); its output if it ended.
pub fn poll_n<F: Future>(mut future: Pin<&mut F>, n: usize) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..n {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return Some(out);
        }
    }
    None
}

/// Polls `future` to its end with the noop waker; the output and the number of polls.
pub fn poll_to_end<F: Future>(mut future: Pin<&mut F>) -> (F::Output, usize) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return (out, polls);
        }
    }
}

static HOOKED: Mutex<()> = Mutex::new(());

/// Events sent to guard's hook while a test holds it (tests that look at events take it in
/// turn: the hook is process-wide).
pub struct Events {
    seen: Arc<Mutex<Vec<String>>>,
    _turn: MutexGuard<'static, ()>,
}

impl Events {
    pub fn capture() -> Events {
        let turn = HOOKED.lock().unwrap_or_else(|e| e.into_inner());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let theirs = seen.clone();
        guard_core::event::set_hook(move |e| theirs.lock().unwrap().push(e.to_string()));
        Events { seen, _turn: turn }
    }
    pub fn get(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        guard_core::event::reset_hook();
    }
}
