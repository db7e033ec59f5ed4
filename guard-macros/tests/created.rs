//! What the report of a derived unique value dropped unreleased says about where it came
//! from: the creation site of its first part that knows one (a guard-os leaf records its
//! constructor's caller), with the part's path, through `Option`, `Vec` and nested derived
//! types; "type defined at" the derive when no part knows (never a creation site it does
//! not know); and, with `RUST_BACKTRACE=1`, where it was dropped.

mod support;

use guard::Resource;
use guard::os::WriteFile;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use support::reports_of;

/// A journal whose log file is its first part that knows its creation site.
#[derive(Resource)]
#[resource(unique)]
struct Journal {
    #[allow(dead_code)]
    id: u32,
    #[resource]
    log: WriteFile,
}

/// Parts that know nothing (`None`, an empty `Vec`) come first: the site is the first
/// that knows, here inside a nested derived value in a `Vec`.
#[derive(Resource)]
#[resource(unique)]
struct Archive {
    #[resource]
    spare: Option<WriteFile>,
    #[resource]
    empty: Vec<Journal>,
    #[resource]
    journals: Vec<Journal>,
}

/// A unique value whose only part that knows its site is counted (a read-only file).
#[derive(Resource)]
#[resource(unique)]
struct Index {
    #[resource]
    file: guard::os::ReadFile,
}

/// A counted value that knows nothing of its own creation.
#[derive(Resource)]
#[resource(counted)]
struct Tally {
    _n: u64,
}

/// A unique value holding a handle to it: the handle knows where it was made.
#[derive(Resource)]
#[resource(unique)]
struct Ledger {
    #[resource]
    tally: guard::Counted<Tally>,
}

/// A generic holder: its own `Drop` may not assume `T` is a resource, but a holder of it
/// asks through `Resource::created`, which may.
#[derive(Resource)]
#[resource(unique)]
struct Wrapper<T> {
    #[resource]
    inner: T,
}

#[derive(Resource)]
#[resource(unique)]
struct Outer {
    #[resource]
    wrapped: Wrapper<WriteFile>,
}

/// Only fields guard knows nothing about: a lock guard, as `benches/scope.rs` has.
const INCREMENT_DEFINED_AT: u32 = line!() + 1;
#[derive(Resource)]
#[resource(unique)]
struct Increment<'a> {
    #[allow(dead_code)]
    count: MutexGuard<'a, u64>,
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "guard-macros-created-{}-{name}",
        std::process::id()
    ))
}

#[test]
fn a_derived_value_names_the_creation_site_of_its_first_part() {
    let path = temp("journal");
    let mut opened_at = 0;
    let seen = reports_of("::Journal", || {
        opened_at = line!() + 1;
        let log = WriteFile::create(&path).unwrap();
        drop(Journal { id: 1, log });
    });
    std::fs::remove_file(&path).unwrap();
    let here = format!("{}:{opened_at}:", file!());
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (text, line) = &seen[0];
    assert_eq!(*line, opened_at, "{text}");
    assert!(
        text.contains(&format!("created at {here}"))
            && text.contains(", where its field `log` was opened, "),
        "{text}"
    );
}

#[test]
fn the_site_is_found_through_options_vecs_and_nested_derived_types() {
    let path = temp("archive");
    let mut opened_at = 0;
    let seen = reports_of("::Archive", || {
        opened_at = line!() + 1;
        let log = WriteFile::create(&path).unwrap();
        drop(Archive {
            spare: None,
            empty: Vec::new(),
            journals: vec![Journal { id: 2, log }],
        });
    });
    std::fs::remove_file(&path).unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (text, line) = &seen[0];
    assert_eq!(*line, opened_at, "{text}");
    assert!(
        text.contains(", where its field `journals[0].log` was opened, "),
        "{text}"
    );
}

#[test]
fn a_counted_part_gives_its_site_too() {
    let mut opened_at = 0;
    let seen = reports_of("::Index", || {
        opened_at = line!() + 1;
        let file = guard::os::ReadFile::open("/dev/null").unwrap();
        drop(Index { file });
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (text, line) = &seen[0];
    assert_eq!(*line, opened_at, "{text}");
    assert!(
        text.contains(", where its field `file` was opened, "),
        "{text}"
    );
}

#[test]
fn a_counted_handle_names_where_it_was_made_when_its_value_knows_nothing() {
    let mut counted_at = 0;
    let seen = reports_of("::Ledger", || {
        counted_at = line!() + 1;
        let tally = guard::Counted::new(Tally { _n: 1 });
        drop(Ledger { tally });
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (text, line) = &seen[0];
    assert_eq!(*line, counted_at, "{text}");
    assert!(
        text.contains(", where its field `tally` was counted, "),
        "{text}"
    );
}

#[test]
fn a_generic_part_is_asked_by_the_type_that_holds_it() {
    let path = temp("outer");
    let mut opened_at = 0;
    let seen = reports_of("::Outer", || {
        opened_at = line!() + 1;
        let inner = WriteFile::create(&path).unwrap();
        drop(Outer {
            wrapped: Wrapper { inner },
        });
    });
    std::fs::remove_file(&path).unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (text, line) = &seen[0];
    assert_eq!(*line, opened_at, "{text}");
    assert!(
        text.contains(", where its field `wrapped.inner` was opened, "),
        "{text}"
    );
}

#[test]
fn a_value_whose_parts_know_nothing_says_where_its_type_is_defined() {
    let counter = Mutex::new(0u64);
    let seen = reports_of("::Increment", || {
        drop(Increment {
            count: counter.lock().unwrap(),
        });
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (text, line) = &seen[0];
    assert_eq!(*line, INCREMENT_DEFINED_AT, "{text}");
    assert!(
        text.contains(&format!(
            "(type defined at {}:{INCREMENT_DEFINED_AT}:",
            file!()
        )),
        "{text}"
    );
    assert!(!text.contains("created at"), "{text}");
}

const CHILD_ENV: &str = "GUARD_MACROS_CREATED_CHILD";

/// In a child process (`RUST_BACKTRACE` decides once per process whether backtraces are
/// captured): drops a `Journal` unreleased and prints the report between `BEGIN` and `END`.
#[test]
fn child_drops_a_journal_unreleased() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let path = temp("child");
    let seen = reports_of("::Journal", || {
        let log = WriteFile::create(&path).unwrap();
        drop(Journal { id: 3, log });
    });
    std::fs::remove_file(&path).unwrap();
    println!("BEGIN");
    for (text, _) in seen {
        println!("{}", text.replace('\n', " | "));
    }
    println!("END");
}

fn child_report(backtrace: &str) -> String {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args(["child_drops_a_journal_unreleased", "--exact", "--nocapture"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", backtrace)
        .env_remove("RUST_LIB_BACKTRACE");
    let out = guard_testkit::output_of(&mut cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let lines = guard_testkit::payload(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

#[test]
fn with_rust_backtrace_the_report_says_where_the_value_was_dropped() {
    let text = child_report("1");
    let (_, dropped) = text
        .split_once("; dropped at:")
        .unwrap_or_else(|| panic!("no drop site: {text}"));
    assert!(
        dropped.contains("child_drops_a_journal_unreleased"),
        "the backtrace names the function that dropped it: {text}"
    );
    // The first frame is the code that dropped it (here an inlined closure, `{closure#0}`
    // at the `drop` line), not guard's reporting, the derived `Drop` or drop glue.
    let first = dropped.trim_start().split(" | ").next().unwrap_or_default();
    for glue in ["guard_", "Drop", "drop_in_place", "core::mem::drop"] {
        assert!(!first.contains(glue), "first frame {first:?}: {text}");
    }
}

#[test]
fn without_rust_backtrace_no_backtrace_is_captured() {
    let text = child_report("0");
    assert!(!text.contains("dropped at"), "{text}");
    assert!(text.contains("where its field `log` was opened"), "{text}");
}
