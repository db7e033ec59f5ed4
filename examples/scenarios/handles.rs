//! Scenario 1 (seed 000): a mutex is two resources. The handle to the OS mutex only
//! counts against a limit, so it is counted and closed later, on the finalizer thread; the
//! acquisition must end at a precise point, so it is unique and ends with its scope.

use crate::common::{self, Result, Verdict, Watchdog};
use guard::os::{IpcLock, IpcMutex};
use guard::{Counted, Kind, Resource};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Locks released on the `guard-finalizer` thread, and on any other thread.
static ON_FINALIZER: AtomicUsize = AtomicUsize::new(0);
static ELSEWHERE: AtomicUsize = AtomicUsize::new(0);

/// The scenario's title in the tour.
pub const TITLE: &str = "handles: a mutex is two resources";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "Python's threading.Lock() holds an OS mutex handle that only a finaliser closes.",
    "guard: the handle is counted (closed later, on the finalizer thread: only the count",
    "matters), the acquisition unique (released exactly where its scope ends).",
];

/// How many locks the scenario creates (the seed's `[Lock() for _ in range(100)]`).
pub const LOCKS: usize = 100;

/// A lock object as Python's `threading.Lock()` makes one: a handle to an OS mutex.
/// Counted: only how many are open matters (the OS reclaims them at exit), so closing one
/// later, on the finalizer thread, costs nothing but a slot for a while.
///
/// Its release hook runs before the mutex field is closed; here it notes which thread the
/// release runs on.
#[derive(Resource)]
#[resource(counted, release = Self::note_thread)]
pub struct Lock {
    #[resource]
    mutex: IpcMutex,
}

impl Lock {
    /// Opens the OS mutex `name` (its lock file lives in `/dev/shm`).
    pub fn open(name: String) -> Result<Lock> {
        Ok(Lock {
            mutex: IpcMutex::open(&name)?,
        })
    }

    fn note_thread(&mut self) -> std::result::Result<(), std::convert::Infallible> {
        let on = std::thread::current().name() == Some("guard-finalizer");
        let count = if on { &ON_FINALIZER } else { &ELSEWHERE };
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Waits for the lock; the acquisition is to be entered in a scope.
    pub fn acquire(&self) -> guard::os::Result<Held<'_>> {
        let lock = self.mutex.lock()?;
        Ok(Held { lock })
    }

    /// True if another thread could take the lock now (it takes and gives it back).
    fn is_free_for_another_thread(&self) -> guard::os::Result<bool> {
        std::thread::scope(|t| {
            t.spawn(|| match self.mutex.try_lock()? {
                Some(lock) => lock.unlock().map(|()| true),
                None => Ok(false),
            })
            .join()
            .unwrap_or(Ok(false))
        })
    }
}

/// Holding a [`Lock`]: unique. Released (unlocked) at the end of the scope it was entered
/// in, at a point the code shows, on the thread that holds it.
#[derive(Resource)]
#[resource(unique)]
pub struct Held<'a> {
    #[resource]
    lock: IpcLock<'a>,
}

/// What the scenario measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Fds open before the locks were created.
    pub baseline: usize,
    /// Fds open while the 100 locks were alive.
    pub with_locks: usize,
    /// Live `Lock`s in `guard::report()` while they were alive.
    pub reported_live: usize,
    /// Fds open right after the last handles were dropped (closes may still be queued).
    pub right_after_drop: usize,
    /// Fds open after `guard::finalizer::flush()`.
    pub after_flush: usize,
    /// How long dropping the 100 last handles took on the dropping thread.
    pub drop_took: Duration,
    /// Of the 100 locks, how many were released on `guard-finalizer`, and elsewhere.
    pub released_on_finalizer: usize,
    /// Released on another thread (the dropping one, say).
    pub released_elsewhere: usize,
    /// Another thread found the lock taken while the scope held it.
    pub busy_inside_scope: bool,
    /// Another thread could take the lock right after the scope ended.
    pub free_after_scope: bool,
    /// The checks.
    pub verdict: Verdict,
}

/// Runs the scenario, printing what happens.
pub fn run() -> Result<Outcome> {
    let _watchdog = Watchdog::arm("handles", Duration::from_secs(30));
    guard::finalizer::flush()?; // closes queued before the scenario do not move the baseline
    let mut out = Outcome {
        baseline: common::fd_count()?,
        ..Outcome::default()
    };
    let prefix = format!("handles-{}", std::process::id());
    common::row("fds open before", out.baseline, "");

    let locks = (0..LOCKS)
        .map(|i| Lock::open(format!("{prefix}-{i}")).map(|l| Counted::new(l)))
        .collect::<Result<Vec<Counted<Lock>>>>()?;
    let files: Vec<PathBuf> = locks.iter().map(|l| l.mutex.path().to_owned()).collect();
    out.with_locks = common::fd_count()?;
    let report = guard::report();
    let group = report
        .live(Kind::Counted)
        .find(|g| common::short(g.origin.type_name()) == "Lock");
    out.reported_live = group.map_or(0, |g| g.count);
    common::row(
        &format!("fds open with {LOCKS} OS mutex handles"),
        out.with_locks,
        "",
    );
    if let Some(g) = group {
        println!(
            "    guard::report(): {} live {} `{}`, created at {}",
            g.count,
            g.origin.kind(),
            common::short(g.origin.type_name()),
            g.origin.site()
        );
    }

    let (on_finalizer, elsewhere) = (
        ON_FINALIZER.load(Ordering::Relaxed),
        ELSEWHERE.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    drop(locks); // the last handles: each close is queued for the finalizer thread
    out.drop_took = start.elapsed();
    out.right_after_drop = common::fd_count()?;
    common::row(
        "fds open right after dropping every handle",
        out.right_after_drop,
        &format!("(the drop took {:.0?} on this thread)", out.drop_took),
    );
    guard::finalizer::flush()?;
    out.after_flush = common::fd_count()?;
    out.released_on_finalizer = ON_FINALIZER.load(Ordering::Relaxed) - on_finalizer;
    out.released_elsewhere = ELSEWHERE.load(Ordering::Relaxed) - elsewhere;
    common::row(
        "fds open after guard::finalizer::flush()",
        out.after_flush,
        "",
    );
    println!(
        "    released on `guard-finalizer`: {}; on any other thread: {}",
        out.released_on_finalizer, out.released_elsewhere
    );
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    let v = &mut out.verdict;
    v.check(
        out.with_locks == out.baseline + LOCKS,
        format!(
            "expected {} fds with the locks open, found {}",
            out.baseline + LOCKS,
            out.with_locks
        ),
    );
    v.check(
        out.reported_live == LOCKS,
        format!(
            "the report listed {} live locks, not {LOCKS}",
            out.reported_live
        ),
    );
    v.check(
        out.released_on_finalizer == LOCKS && out.released_elsewhere == 0,
        format!(
            "{} locks were released on the finalizer thread and {} elsewhere",
            out.released_on_finalizer, out.released_elsewhere
        ),
    );
    v.check(
        out.after_flush == out.baseline,
        format!(
            "after the flush {} fds are open, not the baseline {}",
            out.after_flush, out.baseline
        ),
    );

    println!("\n  The acquisition is the other resource:");
    let lock = Counted::new(Lock::open(format!("{prefix}-acquired"))?);
    let busy_inside_scope = guard::scope(|s| {
        let _held = s.enter(lock.acquire()?);
        let free = lock.is_free_for_another_thread()?;
        println!(
            "    inside the scope: another thread's try_lock: {}",
            if free { "acquired (!)" } else { "busy" }
        );
        Ok::<_, guard::os::Error>(!free)
    })?; // `_held` is released here: unlocked at the end of the scope
    out.busy_inside_scope = busy_inside_scope;
    out.free_after_scope = lock.is_free_for_another_thread()?;
    println!(
        "    after the scope:  another thread's try_lock: {}",
        if out.free_after_scope {
            "acquired (the scope released the lock)"
        } else {
            "busy (!)"
        }
    );
    let file = lock.mutex.path().to_owned();
    drop(lock);
    guard::finalizer::flush()?;
    let _ = std::fs::remove_file(file);
    let v = &mut out.verdict;
    v.check(
        out.busy_inside_scope,
        "another thread took the lock while the scope held it",
    );
    v.check(
        out.free_after_scope,
        "the lock was still held after its scope ended",
    );
    Ok(out)
}
