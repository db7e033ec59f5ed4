//! The live-resource report: what is live, grouped by type and creation site, plus the
//! finalizer's counters, as a table a person reads at a glance.

use crate::census::{CensusGroup, Origin};
use crate::event::{self, Event};
use crate::finalizer::{self, Stats};
use crate::loom::{StdAtomicBool, StdAtomicU64, StdMutex, StdOrdering};
use crate::resource::Kind;
use std::fmt;

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
/// it synchronously anyway). Reported to the event hook and counted in the report. Called
/// by leaf resources' `Drop`.
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
    UNRELEASED.fetch_add(1, StdOrdering::Relaxed);
    event::emit(&Event::Unreleased { origin });
    if cfg!(debug_assertions)
        && PANIC_ON_UNRELEASED.load(StdOrdering::Relaxed)
        && !std::thread::panicking()
    {
        panic!(
            "unique `{}` created at {} was dropped without being released",
            origin.type_name(),
            origin.site()
        );
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

    /// Number of live resources of the given kind, across sections (see the type's docs on
    /// layers).
    pub fn live_count(&self, kind: Kind) -> usize {
        self.live(kind).map(|c| c.count).sum()
    }

    /// The finalizer's counters when the report was taken.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How many unique resources were dropped without being released so far.
    pub fn unreleased(&self) -> u64 {
        self.unreleased
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (title, groups) in &self.sections {
            let total: usize = groups.iter().map(|g| g.count).sum();
            if groups.is_empty() {
                writeln!(f, "{title}: none")?;
                continue;
            }
            writeln!(f, "{title}: {total} in {} group(s)", groups.len())?;
            let width = groups
                .iter()
                .map(|g| g.origin.type_name().len())
                .max()
                .unwrap_or(4);
            writeln!(
                f,
                "  {:<7}  {:>6}  {:<width$}  created at",
                "kind", "count", "type"
            )?;
            for g in groups {
                let o = &g.origin;
                writeln!(
                    f,
                    "  {:<7}  {:>6}  {:<width$}  {}",
                    o.kind(),
                    g.count,
                    o.type_name(),
                    o.site()
                )?;
            }
        }
        writeln!(f, "finalizer: {}", self.stats)?;
        write!(
            f,
            "unique resources dropped without release: {}",
            self.unreleased
        )
    }
}
