//! The live-resource report: what is live, grouped by type and creation site, plus the
//! finalizer's counters, as a table a person reads at a glance.
//!
//! Its last line counts the unique resources dropped without being released. Each was
//! reported to the event hook when it happened ([`Event::Unreleased`]), saying where the
//! value was created as well as it knows: a leaf resource's constructor call; for a
//! derived one, its `#[resource(site)]` field, else the first `#[resource]` field that
//! knows its own ("created at src/x.rs:12, where its field `log` was opened"); else where
//! its type is defined ("type defined at"), never a creation site it does not know. With
//! `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` set, a backtrace of where it was dropped
//! follows (captured only on that path; nothing is captured otherwise).

use crate::census::{CensusGroup, Origin};
use crate::event::{self, Event};
use crate::finalizer::{self, Stats};
use crate::loom::{StdAtomicBool, StdAtomicU64, StdMutex, StdOrdering};
use crate::resource::{Created, Kind};
use std::backtrace::{Backtrace, BacktraceStatus};
use std::fmt;
use std::panic::Location;

/// Lists the live entries of one report section, grouped by origin.
type CensusFn = fn() -> Vec<CensusGroup>;

#[derive(Clone, Copy)]
struct Section {
    title: &'static str,
    census: CensusFn,
}

static SECTIONS: StdMutex<Vec<Section>> = StdMutex::new(Vec::new());

/// Adds a section to every [`report`] after the first ("live resources": what is held in
/// scopes and counted handles): `census` lists live entries grouped by origin (for example
/// [`Registry::census`](crate::registry::Registry::census) of another registry, as
/// guard-os does for fds). Adding a title twice replaces it.
///
/// # Examples
///
/// ```
/// guard_core::report::add_section("widgets", Vec::new);
/// assert!(guard_core::report().to_string().contains("widgets"));
/// ```
pub fn add_section(title: &'static str, census: fn() -> Vec<CensusGroup>) {
    let mut sections = SECTIONS.lock().unwrap_or_else(|e| e.into_inner());
    sections.retain(|s| s.title != title);
    sections.push(Section { title, census });
}

static UNRELEASED: StdAtomicU64 = StdAtomicU64::new(0);
static PANIC_ON_UNRELEASED: StdAtomicBool = StdAtomicBool::new(false);

/// Records that a unique resource was dropped without being released (its `Drop` released
/// it synchronously anyway). Reported to the event hook ([`Event::Unreleased`]) and counted
/// in the report. Called by leaf resources' `Drop`, with the origin they were created
/// with. When `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` enables backtraces, one is
/// captured here (where the value is being dropped) and sent with the event; otherwise
/// nothing is captured.
///
/// # Panics
///
/// In debug builds, if [`set_panic_on_unreleased`] asked for it and the thread is not
/// already panicking.
///
/// # Examples
///
/// ```
/// use guard_core::{Kind, census::Origin};
/// guard_core::event::set_hook(|_| {});
/// guard_core::report::unreleased(Origin::here::<std::fs::File>(Kind::Unique));
/// assert!(guard_core::report().unreleased() >= 1);
/// # guard_core::event::reset_hook();
/// ```
pub fn unreleased(origin: Origin) {
    let created = Created::new(origin.site(), "created");
    record_unreleased(origin, Some(&created));
}

/// Records that a unique value of type `type_name` (a derived resource, whose type is
/// defined at `defined_at`) was dropped without being released, as [`unreleased`] does
/// for a leaf. `created` is where the value was created, if it knows
/// ([`Resource::created`](crate::Resource::created)); without it, the report says where
/// the type is defined, and that the creation site is unknown. The derive's `Drop` calls
/// this.
///
/// # Panics
///
/// As [`unreleased`].
///
/// # Examples
///
/// ```
/// use guard_core::Created;
/// use std::panic::Location;
/// guard_core::event::set_hook(|_| {});
/// let before = guard_core::report().unreleased();
/// guard_core::report::unreleased_value("app::Journal", Some(Created::here("opened")), Location::caller());
/// guard_core::report::unreleased_value("app::Journal", None, Location::caller());
/// assert_eq!(guard_core::report().unreleased(), before + 2);
/// # guard_core::event::reset_hook();
/// ```
pub fn unreleased_value(
    type_name: &'static str,
    created: Option<Created>,
    defined_at: &'static Location<'static>,
) {
    let site = created.as_ref().map_or(defined_at, Created::site);
    record_unreleased(Origin::new(Kind::Unique, type_name, site), created.as_ref());
}

/// Counts the drop, captures where it happens (if backtraces are enabled) and sends the
/// event; then the drop bomb, if armed.
#[cold]
fn record_unreleased(origin: Origin, created: Option<&Created>) {
    UNRELEASED.fetch_add(1, StdOrdering::Relaxed);
    let backtrace = Backtrace::capture();
    let dropped_at = (backtrace.status() == BacktraceStatus::Captured).then_some(&backtrace);
    event::emit(&Event::Unreleased {
        origin,
        created,
        dropped_at,
    });
    if cfg!(debug_assertions)
        && PANIC_ON_UNRELEASED.load(StdOrdering::Relaxed)
        && !std::thread::panicking()
    {
        // The panic's own backtrace (if enabled) shows where: not repeated in its message.
        let event = Event::Unreleased {
            origin,
            created,
            dropped_at: None,
        };
        panic!("{event}");
    }
}

/// In debug builds, makes [`unreleased`] panic (a drop bomb) instead of only reporting.
///
/// # Examples
///
/// ```
/// guard_core::report::set_panic_on_unreleased(false);
/// ```
pub fn set_panic_on_unreleased(on: bool) {
    PANIC_ON_UNRELEASED.store(on, StdOrdering::Relaxed);
}

/// A snapshot of what is live and how the finalizer is doing. `Display` prints a table.
///
/// Sections are layers, not partitions: "live resources" counts what is held in scopes and
/// counted handles (by the type entered or wrapped), and a section added by another layer
/// (guard-os's "registered fds") counts what lies under them. A `Counted<ReadFile>` is one
/// live counted resource in the first section and one registered fd in the second; the
/// totals across sections ([`live_count`](Self::live_count)) count it in both.
///
/// # Examples
///
/// ```
/// let report = guard_core::report();
/// println!("{report}");
/// assert!(report.to_string().contains("finalizer:"));
/// ```
#[derive(Clone, Debug)]
pub struct Report {
    sections: Vec<(&'static str, Vec<CensusGroup>)>,
    stats: Stats,
    unreleased: u64,
}

/// Takes a [`Report`] now.
pub fn report() -> Report {
    let mut sections = vec![("live resources", crate::census::census())];
    let extra: Vec<Section> = SECTIONS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    sections.extend(extra.into_iter().map(|s| (s.title, (s.census)())));
    Report {
        sections,
        stats: finalizer::stats(),
        unreleased: UNRELEASED.load(StdOrdering::Relaxed),
    }
}

impl Report {
    /// Every section: its title and its live groups.
    pub fn sections(&self) -> impl Iterator<Item = (&'static str, &[CensusGroup])> {
        self.sections.iter().map(|(t, c)| (*t, c.as_slice()))
    }

    /// Live groups of the given kind, across sections.
    pub fn live(&self, kind: Kind) -> impl Iterator<Item = &CensusGroup> {
        self.sections
            .iter()
            .flat_map(|(_, c)| c)
            .filter(move |c| c.origin.kind() == kind)
    }

    /// Number of pinned registry entries across sections: removed by their owner but not
    /// released, because a lease on them has not ended (a forgotten lease pins its entry
    /// for good). Each shows in its section with its creation site.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(guard_core::report().pinned(), 0);
    /// ```
    pub fn pinned(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|(_, c)| c)
            .map(|c| c.pinned)
            .sum()
    }

    /// Number of live resources of the given kind, across sections (see the type's docs on
    /// layers).
    pub fn live_count(&self, kind: Kind) -> usize {
        self.live(kind).map(|c| c.count).sum()
    }

    /// The finalizer's counters when the report was taken.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How many unique resources were dropped without being released so far. Each was
    /// reported to the event hook when it happened ([`Event::Unreleased`]): its type, where
    /// it was created (or, for a derived value that knows no creation site, where its type
    /// is defined), and where it was dropped when backtraces are enabled.
    pub fn unreleased(&self) -> u64 {
        self.unreleased
    }
}

/// The widest the type column grows: a longer name is cut to fit, with a footnote mark, and
/// given in full once, under its section.
const TYPE_WIDTH: usize = 60;

/// How a row shows its type: the name if it fits, else its head and a footnote mark.
fn type_cell(name: &str, note: usize) -> String {
    if name.chars().count() <= TYPE_WIDTH {
        return name.to_owned();
    }
    let mark = format!("...[{note}]");
    let keep = TYPE_WIDTH.saturating_sub(mark.len());
    let head: String = name.chars().take(keep).collect();
    format!("{head}{mark}")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (title, groups) in &self.sections {
            if groups.is_empty() {
                writeln!(f, "{title}: none")?;
                continue;
            }
            let total: usize = groups.iter().map(|g| g.count).sum();
            let pinned: usize = groups.iter().map(|g| g.pinned).sum();
            write!(f, "{title}: {total} in {} group(s)", groups.len())?;
            if pinned > 0 {
                write!(
                    f,
                    "; {pinned} pinned (removed, but held unreleased by a lease that has not ended)"
                )?;
            }
            writeln!(f)?;
            let mut notes: Vec<&str> = Vec::new();
            let cells: Vec<String> = groups
                .iter()
                .map(|g| {
                    let name = g.origin.type_name();
                    let cell = type_cell(name, notes.len() + 1);
                    if cell.len() != name.len() {
                        notes.push(name);
                    }
                    cell
                })
                .collect();
            let width = cells
                .iter()
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            write!(f, "  {:<7}  {:>6}  ", "kind", "count")?;
            if pinned > 0 {
                write!(f, "{:>6}  ", "pinned")?;
            }
            writeln!(f, "{:<width$}  created at", "type")?;
            for (g, cell) in groups.iter().zip(&cells) {
                let o = &g.origin;
                write!(f, "  {:<7}  {:>6}  ", o.kind(), g.count)?;
                if pinned > 0 {
                    write!(f, "{:>6}  ", g.pinned)?;
                }
                writeln!(f, "{cell:<width$}  {}", o.site())?;
            }
            for (i, name) in notes.iter().enumerate() {
                writeln!(f, "  [{}] {name}", i + 1)?;
            }
        }
        writeln!(f, "finalizer: {}", self.stats)?;
        write!(
            f,
            "unique resources dropped without release: {} (each reported to the event hook)",
            self.unreleased
        )
    }
}
