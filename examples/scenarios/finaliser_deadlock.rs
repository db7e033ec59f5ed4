//! Scenario 3 (seed 002, Tratt; Boehm 2002): a release that takes a lock the dropping thread
//! holds. As a plain `Drop` it runs on that thread, at the drop, and waits for itself
//! forever. As a counted resource it runs on the finalizer thread once the lock is free;
//! and a release that never gets its lock is reported stuck while the rest of the queue
//! moves on.

use crate::common::{Result, Verdict, Watchdog};
use guard::event::{self, Event};
use guard::{Counted, Resource};
use parking_lot::Mutex;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The scenario's title in the tour.
pub const TITLE: &str = "finaliser_deadlock: a release that takes a lock the dropping thread holds";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "Tratt's Python: __del__ takes a mutex that the code dropping the object holds. As a",
    "plain Drop the release waits for its own thread forever. As a counted resource it runs",
    "on the finalizer thread, after the lock is free; one that never gets it is reported.",
];

/// How long the plain-`Drop` thread gets before it is declared deadlocked.
pub const PATIENCE: Duration = Duration::from_millis(500);

/// The shared state finalisers must touch (Boehm: "useful finalizers must touch global
/// shared state"): the ids of live sessions, behind a mutex.
pub type Sessions = Arc<Mutex<Vec<u32>>>;

/// The seed's `T`, with its `__del__` as a plain `Drop`: unregisters itself.
pub struct PlainSession {
    id: u32,
    sessions: Sessions,
}

impl Drop for PlainSession {
    fn drop(&mut self) {
        self.sessions.lock().retain(|&id| id != self.id); // waits for the lock, forever
    }
}

/// The same type as a counted resource: its release hook unregisters it, on the finalizer
/// thread, and notes which thread that was.
#[derive(Resource)]
#[resource(counted, release = Self::unregister)]
pub struct Session {
    id: u32,
    sessions: Sessions,
    released_on: Arc<Mutex<Vec<String>>>,
}

impl Session {
    fn unregister(&mut self) -> std::result::Result<(), Infallible> {
        self.sessions.lock().retain(|&id| id != self.id);
        let thread = std::thread::current();
        self.released_on
            .lock()
            .push(thread.name().unwrap_or("<unnamed>").to_owned());
        Ok(())
    }
}

/// A counted resource whose release needs no lock: the rest of the finalizer's queue.
#[derive(Resource)]
#[resource(counted, release = Self::note)]
pub struct Note {
    released: Arc<AtomicUsize>,
}

impl Note {
    fn note(&mut self) -> std::result::Result<(), Infallible> {
        self.released.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// What the scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The plain `Drop` was still waiting after [`PATIENCE`] (the bug, shown).
    pub plain_deadlocked: bool,
    /// How long dropping the counted session took on the thread holding the lock.
    pub counted_drop_took: Duration,
    /// The counted session was unregistered after the lock was given back.
    pub counted_released: bool,
    /// The threads its release ran on.
    pub released_on: Vec<String>,
    /// A release stuck on a lock was reported by the watchdog.
    pub stuck_reported: bool,
    /// Releases that completed while the stuck one waited.
    pub others_released_meanwhile: usize,
    /// The stuck release completed once the lock was free, and a flush succeeded.
    pub stuck_completed: bool,
    /// The checks.
    pub verdict: Verdict,
}

/// Runs the scenario, printing what happens.
pub fn run() -> Result<Outcome> {
    let _watchdog = Watchdog::arm("finaliser_deadlock", Duration::from_secs(30));
    let mut out = Outcome::default();

    // 1. Plain Drop, on a thread the scenario can abandon.
    let sessions: Sessions = Arc::new(Mutex::new(vec![1]));
    let session = PlainSession {
        id: 1,
        sessions: sessions.clone(),
    };
    let (done, finished) = mpsc::channel();
    std::thread::Builder::new()
        .name("plain-drop".into())
        .spawn(move || {
            let held = sessions.lock(); //  mutex.acquire()
            drop(session); //                t = None: __del__ runs here, and waits
            drop(held); //                   mutex.release(): never reached
            let _ = done.send(());
        })?;
    out.plain_deadlocked = finished.recv_timeout(PATIENCE).is_err();
    println!("  plain Drop: lock, drop the session (its Drop takes the lock), unlock");
    if out.plain_deadlocked {
        println!("    still waiting after {PATIENCE:?}: deadlocked (the thread is abandoned)");
    } else {
        println!("    completed: the deadlock did not show this time");
    }

    // 2. The same release as a counted resource.
    let sessions: Sessions = Arc::new(Mutex::new(vec![2]));
    let released_on = Arc::new(Mutex::new(Vec::new()));
    let session = Counted::new(Session {
        id: 2,
        sessions: sessions.clone(),
        released_on: released_on.clone(),
    });
    let held = sessions.lock();
    let started = Instant::now();
    drop(session); // the last handle: queued for the finalizer, which waits for the lock
    out.counted_drop_took = started.elapsed();
    drop(held);
    guard::finalizer::flush_timeout(Duration::from_secs(10))?;
    out.counted_released = sessions.lock().is_empty();
    out.released_on = released_on.lock().clone();
    println!("  guard: lock, drop the last handle to the counted session, unlock");
    println!(
        "    the drop returned in {:.0?}; the release ran on `{}` once the lock was free",
        out.counted_drop_took,
        out.released_on.join("`, `")
    );

    stuck_release(&mut out)?;

    let v = &mut out.verdict;
    v.check(out.counted_released, "the counted session was not released");
    v.check(
        out.released_on.len() == 1 && out.released_on.iter().all(|t| t == "guard-finalizer"),
        format!(
            "the release ran on {:?}, not once on `guard-finalizer`",
            out.released_on
        ),
    );
    v.check(
        out.counted_drop_took < PATIENCE,
        format!(
            "dropping the counted session blocked for {:?}",
            out.counted_drop_took
        ),
    );
    Ok(out)
}

/// Part 3: a release that cannot cooperate (its lock is held for a long time): the watchdog
/// reports it, a fresh worker serves the rest of the queue meanwhile.
fn stuck_release(out: &mut Outcome) -> Result {
    const OTHERS: usize = 10;
    let deadline = guard::finalizer::stuck_deadline();
    guard::finalizer::set_stuck_deadline(Duration::from_millis(200));
    let reports = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = reports.clone();
    event::set_hook(move |e: &Event<'_>| {
        if let Event::Stuck { .. } = e {
            sink.lock().push(e.to_string());
        }
    });

    let sessions: Sessions = Arc::new(Mutex::new(vec![3]));
    let released = Arc::new(AtomicUsize::new(0));
    let held = sessions.lock();
    drop(Counted::new(Session {
        id: 3,
        sessions: sessions.clone(),
        released_on: Arc::default(),
    }));
    for _ in 0..OTHERS {
        drop(Counted::new(Note {
            released: released.clone(),
        }));
    }
    let until = Instant::now() + Duration::from_secs(5);
    while released.load(Ordering::SeqCst) < OTHERS && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    out.others_released_meanwhile = released.load(Ordering::SeqCst);
    let stuck = guard::finalizer::flush_timeout(Duration::from_secs(5));
    drop(held); // the stuck release gets its lock at last
    // `flush` does not wait for a release already declared stuck: wait for it to return.
    let until = Instant::now() + Duration::from_secs(10);
    out.stuck_completed = loop {
        let unregistered = sessions.lock().is_empty();
        if unregistered && guard::finalizer::flush_timeout(Duration::from_secs(5)).is_ok() {
            break true;
        }
        if Instant::now() >= until {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // The watchdog hands its report to a thread of its own (the hook may be what blocks):
    // under load it can arrive after the release it reports completed.
    let until = Instant::now() + Duration::from_secs(5);
    while reports.lock().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    event::reset_hook();
    guard::finalizer::set_stuck_deadline(deadline);
    let reports = reports.lock().clone();
    out.stuck_reported = !reports.is_empty();

    println!("  a release that waits for a lock held for long (stuck deadline: 200 ms)");
    for r in &reports {
        println!("    reported: {r}");
    }
    println!(
        "    meanwhile {} of the {OTHERS} releases queued behind it ran; flush: {}",
        out.others_released_meanwhile,
        match &stuck {
            Ok(()) => "done".to_owned(),
            Err(e) => e.to_string(),
        }
    );
    println!(
        "    once the lock was free the stuck release completed: {}",
        if out.stuck_completed { "yes" } else { "no" }
    );
    let v = &mut out.verdict;
    v.check(out.stuck_reported, "the stuck release was not reported");
    v.check(
        out.others_released_meanwhile == OTHERS,
        format!(
            "only {} of {OTHERS} releases ran while one was stuck",
            out.others_released_meanwhile
        ),
    );
    v.check(out.stuck_completed, "the stuck release never completed");
    Ok(())
}
