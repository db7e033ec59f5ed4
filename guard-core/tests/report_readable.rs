//! Reports and messages a person can read (issue 13, bullets 4 and 5): a pinned registry
//! entry shows with its creation site, a long type name does not widen every row, and an
//! error names each thing once. (Own test binary: report sections are process-wide.)

use guard_core::census::Origin;
use guard_core::registry::Registry;
use guard_core::{Kind, ReleaseErrors, ReleaseFailure};
use std::error::Error as StdError;
use std::panic::Location;
use std::sync::LazyLock;

static WIDE: LazyLock<Registry<u32>> = LazyLock::new(|| Registry::new(|_| {}));
static PINS: LazyLock<Registry<u32>> = LazyLock::new(|| Registry::new(|_| {}));

fn wide_census() -> Vec<guard_core::census::CensusGroup> {
    WIDE.census()
}

fn pins_census() -> Vec<guard_core::census::CensusGroup> {
    PINS.census()
}

/// A section's lines: from its title to the next section or the finalizer line.
fn section(report: &str, title: &str) -> Vec<String> {
    let mut lines = report.lines().skip_while(|l| !l.starts_with(title));
    let head = lines.next().expect("the section").to_owned();
    std::iter::once(head)
        .chain(lines.take_while(|l| l.starts_with(' ')).map(str::to_owned))
        .collect()
}

#[test]
fn a_long_type_name_is_cut_in_its_row_and_given_once() {
    let long: &'static str = Box::leak(format!("app::Wide<{}>", "Nested<".repeat(3000)).into());
    let site = Location::caller();
    let _a = WIDE.insert(1, Origin::new(Kind::Unique, long, site));
    let _b = WIDE.insert(2, Origin::new(Kind::Unique, "app::Short", site));
    guard_core::report::add_section("wide names", wide_census);
    let report = guard_core::report().to_string();
    let lines = section(&report, "wide names");
    assert_eq!(report.matches(long).count(), 1, "the full name once");
    let short = lines.iter().find(|l| l.contains("app::Short")).unwrap();
    assert!(
        short.len() < 200,
        "a short row stays short: {} bytes",
        short.len()
    );
    let cut = lines
        .iter()
        .find(|l| l.contains("app::Wide<") && l.contains(site.file()));
    assert!(
        cut.is_some_and(|l| l.len() < 200),
        "the long row is cut: {lines:?}"
    );
}

#[test]
fn a_forgotten_lease_shows_as_pinned_with_its_site() {
    let site = Location::caller();
    let origin = Origin::new(Kind::Unique, "app::Pinned", site);
    let key = PINS.insert(7, origin);
    std::mem::forget(PINS.lease(key).unwrap());
    assert!(PINS.remove(key).is_deferred());
    assert_eq!(PINS.len(), 0, "no longer live");
    guard_core::report::add_section("pins", pins_census);
    let report = guard_core::report().to_string();
    let lines = section(&report, "pins");
    assert!(lines[0].contains("1 pinned"), "{lines:?}");
    let row = lines.iter().find(|l| l.contains("app::Pinned"));
    let here = format!("{}:{}", site.file(), site.line());
    assert!(row.is_some_and(|l| l.contains(&here)), "{lines:?}");
}

/// The message, then each source not already shown (as chain printers do).
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}

#[test]
fn a_derived_failure_names_its_resource_once() {
    let mut parts = ReleaseErrors::new("app::Journal");
    parts.push("file", std::io::Error::other("EIO"));
    let failure = ReleaseFailure::new("app::Journal", parts);
    let text = failure.to_string();
    assert_eq!(text.matches("app::Journal").count(), 1, "{text}");
    assert_eq!(text, "releasing `app::Journal` failed in `file`: EIO");
}

#[test]
fn every_part_shows_once_in_a_chain() {
    let mut parts = ReleaseErrors::new("app::Journal");
    parts.push("file", std::io::Error::other("EIO"));
    parts.push("index", std::io::Error::other("EBADF"));
    let text = chain(&parts);
    assert_eq!(text.matches("EIO").count(), 1, "{text}");
    assert_eq!(text.matches("EBADF").count(), 1, "{text}");
    let fields: Vec<&str> = (&parts).into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["file", "index"]);
}
