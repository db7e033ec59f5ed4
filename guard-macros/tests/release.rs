//! What the generated `release` does at run time: order, attempts, hook, errors, panics,
//! and the derived types in a scope, in a `Counted` and in the report.

mod support;

use guard::{Counted, Kind, ReleaseErrors, Resource};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;
use support::{Fd, LeafError, Log, Outcome, Unique};

#[derive(Resource)]
#[resource(unique)]
struct Three {
    #[resource]
    first: Unique,
    #[resource]
    second: Unique,
    #[resource]
    third: Unique,
}

fn three(log: &Log, outcomes: [Outcome; 3]) -> Three {
    Three {
        first: Unique::with("first", log, outcomes[0]),
        second: Unique::with("second", log, outcomes[1]),
        third: Unique::with("third", log, outcomes[2]),
    }
}

fn parts(errors: &ReleaseErrors) -> Vec<(String, String)> {
    errors
        .parts()
        .map(|(field, e)| (field.to_owned(), e.to_string()))
        .collect()
}

#[test]
fn fields_are_released_in_reverse_declaration_order() {
    let log = Log::new();
    three(&log, [Outcome::Ok; 3]).release().unwrap();
    assert_eq!(log.entries(), ["third", "second", "first"]);
}

#[test]
fn every_field_is_attempted_and_every_error_names_its_field() {
    let log = Log::new();
    let errors = three(&log, [Outcome::Fail, Outcome::Ok, Outcome::Fail])
        .release()
        .unwrap_err();
    assert_eq!(log.entries(), ["third", "second", "first"]);
    assert!(
        errors.resource().ends_with("Three"),
        "{}",
        errors.resource()
    );
    assert_eq!(
        parts(&errors),
        [
            ("third".into(), "third failed".into()),
            ("first".into(), "first failed".into())
        ]
    );
    assert_eq!(
        errors.to_string(),
        format!(
            "releasing `{}` failed in 2 parts: `third`: third failed; `first`: first failed",
            errors.resource()
        )
    );
}

#[test]
fn a_panicking_field_does_not_skip_the_others_and_resumes_after_them() {
    let log = Log::new();
    let value = three(&log, [Outcome::Ok, Outcome::Panic, Outcome::Ok]);
    let panic = catch_unwind(AssertUnwindSafe(|| value.release())).unwrap_err();
    assert_eq!(log.entries(), ["third", "second", "first"]);
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("second panicked")
    );
}

#[test]
fn the_first_panic_resumes_and_later_ones_do_not_stop_the_rest() {
    let log = Log::new();
    let value = three(&log, [Outcome::Panic, Outcome::Fail, Outcome::Panic]);
    let panic = catch_unwind(AssertUnwindSafe(|| value.release())).unwrap_err();
    assert_eq!(log.entries(), ["third", "second", "first"]);
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("third panicked")
    );
}

/// The generated release hands every part to `Release` with its field's name, so the one
/// whose panic resumes is known (for `ReleasePanicked` to name it) and the payload is
/// resumed untouched.
#[test]
fn the_release_knows_which_field_raised_the_panic_it_resumes() {
    use guard::__private::{Kind as PrivateKind, Release};
    let log = Log::new();
    let mut release = Release::new("app::Three", PrivateKind::Unique);
    release.field("third", Unique::new("third", &log));
    assert_eq!(release.panicked_field(), None);
    release.field("second", Unique::with("second", &log, Outcome::Panic));
    release.field("first", Unique::with("first", &log, Outcome::Panic));
    assert_eq!(release.panicked_field(), Some("second"), "the first panic");
    let panic = catch_unwind(AssertUnwindSafe(|| release.finish())).unwrap_err();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("second panicked")
    );
}

/// A journal: flushes its buffer first (the hook), then releases its parts.
#[derive(Resource)]
#[resource(unique, release = Self::flush)]
struct Journal {
    #[resource]
    file: Unique,
    pending: Vec<u8>,
    log: Log,
    flush: Outcome,
}

impl Journal {
    fn flush(&mut self) -> Result<(), LeafError> {
        self.log.push(format!("flush {} bytes", self.pending.len()));
        self.pending.clear();
        match self.flush {
            Outcome::Ok => Ok(()),
            Outcome::Fail => Err(LeafError("flush")),
            Outcome::Panic => panic!("flush panicked"),
        }
    }
}

fn journal(log: &Log, flush: Outcome, file: Outcome) -> Journal {
    Journal {
        file: Unique::with("file", log, file),
        pending: vec![1, 2, 3],
        log: log.clone(),
        flush,
    }
}

#[test]
fn the_hook_runs_first() {
    let log = Log::new();
    journal(&log, Outcome::Ok, Outcome::Ok).release().unwrap();
    assert_eq!(log.entries(), ["flush 3 bytes", "file"]);
}

#[test]
fn a_failing_hook_is_reported_with_its_path_and_the_fields_are_still_released() {
    let log = Log::new();
    let errors = journal(&log, Outcome::Fail, Outcome::Fail)
        .release()
        .unwrap_err();
    assert_eq!(log.entries(), ["flush 3 bytes", "file"]);
    assert_eq!(
        parts(&errors),
        [
            ("Self::flush".into(), "flush failed".into()),
            ("file".into(), "file failed".into())
        ]
    );
}

#[test]
fn a_panicking_hook_still_lets_the_fields_be_released() {
    let log = Log::new();
    let value = journal(&log, Outcome::Panic, Outcome::Ok);
    let panic = catch_unwind(AssertUnwindSafe(|| value.release())).unwrap_err();
    assert_eq!(log.entries(), ["flush 3 bytes", "file"]);
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"flush panicked"));
}

/// Tuple fields are named by their index; plain fields are only dropped.
#[derive(Resource)]
#[resource(unique)]
struct Pair(#[resource] Unique, u32, #[resource] Unique);

#[test]
fn tuple_fields_are_named_by_index() {
    let log = Log::new();
    let pair = Pair(
        Unique::with("a", &log, Outcome::Fail),
        7,
        Unique::with("b", &log, Outcome::Fail),
    );
    assert_eq!(pair.1, 7);
    let errors = pair.release().unwrap_err();
    assert_eq!(log.entries(), ["b", "a"]);
    let fields: Vec<String> = parts(&errors).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["2", "0"]);
}

/// Enums release the active variant's marked fields, named `Variant.field`.
#[derive(Resource)]
#[resource(unique)]
enum Conn {
    Idle,
    Open {
        #[resource]
        socket: Unique,
        #[resource]
        tls: Unique,
        peer: String,
    },
    Proxied(#[resource] Unique, #[resource] Unique),
}

#[test]
fn enums_release_the_active_variant() {
    let log = Log::new();
    Conn::Idle.release().unwrap();
    assert!(log.entries().is_empty());

    let open = Conn::Open {
        socket: Unique::with("socket", &log, Outcome::Fail),
        tls: Unique::new("tls", &log),
        peer: "db".into(),
    };
    if let Conn::Open { peer, .. } = &open {
        assert_eq!(peer, "db");
    }
    let errors = open.release().unwrap_err();
    assert_eq!(log.entries(), ["tls", "socket"]);
    assert_eq!(
        parts(&errors),
        [("Open.socket".into(), "socket failed".into())]
    );

    let log = Log::new();
    Conn::Proxied(Unique::new("inner", &log), Unique::new("outer", &log))
        .release()
        .unwrap();
    assert_eq!(log.entries(), ["outer", "inner"]);
}

/// A counted type: every part counted or plain data.
#[derive(Resource)]
#[resource(counted)]
struct Snapshot {
    #[resource]
    fd: Fd,
    #[resource]
    index: Fd,
    len: u64,
}

#[test]
fn a_derived_counted_type_is_released_on_the_finalizer_thread() {
    let log = Log::new();
    let snapshot = Counted::new(Snapshot {
        fd: Fd::new("fd", &log),
        index: Fd::new("index", &log),
        len: 9,
    });
    let other = snapshot.clone();
    assert_eq!(other.len, 9);
    drop(snapshot);
    drop(other);
    guard::finalizer::flush().unwrap();
    assert_eq!(
        log.entries(),
        ["index on guard-finalizer", "fd on guard-finalizer"]
    );
}

/// A counted type that holds a handle to its own type: a directory keeps its parent open.
#[derive(Resource)]
#[resource(counted)]
struct Dir {
    #[resource]
    fd: Fd,
    parent: Option<Counted<Dir>>,
}

#[test]
fn a_counted_type_holding_its_own_type_releases_the_chain_child_first() {
    let log = Log::new();
    let root = Counted::new(Dir {
        fd: Fd::new("root", &log),
        parent: None,
    });
    let mid = Counted::new(Dir {
        fd: Fd::new("mid", &log),
        parent: Some(root),
    });
    let leaf = Counted::new(Dir {
        fd: Fd::new("leaf", &log),
        parent: Some(mid),
    });
    assert!(leaf.parent.as_ref().is_some_and(|mid| mid.parent.is_some()));
    drop(leaf);
    // A parent's last handle goes while its child is released, on the finalizer, so it is
    // queued after this flush's marker: one flush per level.
    for _ in 0..3 {
        guard::finalizer::flush_timeout(Duration::from_secs(30)).unwrap();
    }
    assert_eq!(
        log.entries(),
        [
            "leaf on guard-finalizer",
            "mid on guard-finalizer",
            "root on guard-finalizer"
        ]
    );
}

#[test]
fn a_derived_counted_type_can_be_released_now_with_its_errors() {
    let log = Log::new();
    let snapshot = Counted::new(Snapshot {
        fd: Fd::with("fd", &log, Outcome::Fail),
        index: Fd::new("index", &log),
        len: 0,
    });
    let Err(guard::TryReleaseError::Failed(errors)) = snapshot.try_release() else {
        panic!("the last handle releases now, and the fd fails");
    };
    let current = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned();
    assert_eq!(
        log.entries(),
        [format!("index on {current}"), format!("fd on {current}")]
    );
    assert_eq!(parts(&errors), [("fd".into(), "fd failed".into())]);
}

/// Entered in a scope by one test only, so that its live count is that test's alone.
#[derive(Resource)]
#[resource(unique)]
struct Ledger {
    #[resource]
    file: Unique,
}

#[test]
fn a_derived_unique_type_in_a_scope_is_live_in_the_report_and_released_at_its_end() {
    let log = Log::new();
    let live = |report: &guard::Report| -> usize {
        report
            .live(Kind::Unique)
            .filter(|c| c.origin.type_name().ends_with("::Ledger"))
            .map(|c| c.count)
            .sum()
    };
    let line = line!() + 2;
    guard::scope(|s| {
        let _ledger = s.enter(Ledger {
            file: Unique::new("file", &log),
        });
        let report = guard::report();
        assert_eq!(live(&report), 1, "{report}");
        let site = report
            .live(Kind::Unique)
            .find(|c| c.origin.type_name().ends_with("::Ledger"))
            .unwrap()
            .origin
            .site();
        assert_eq!(
            (site.file(), site.line()),
            (file!(), line),
            "the creation site is the `enter` call"
        );
        assert!(log.entries().is_empty());
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["file"]);
    assert_eq!(live(&guard::report()), 0);
}

#[test]
fn scope_errors_carry_the_derived_type_and_its_fields() {
    let log = Log::new();
    let err = guard::scope(|s| {
        let _journal = s.enter(journal(&log, Outcome::Ok, Outcome::Fail));
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap_err();
    assert_eq!(err.releases().len(), 1);
    let message = err.to_string();
    assert!(
        message.contains("Journal") && message.contains("`file`: file failed"),
        "{message}"
    );
}
