//! The runtime guard: drains pending counted releases at exit, reports unique resources
//! still live, and ending it changes nothing after: later releases still run on the
//! finalizer (F1). (Own test binary: the event hook is process-wide. One test, so the
//! steps run in order.)

mod common;

use common::{Log, Probe};
use guard_core::{Counted, Kind, finalizer, scope};
use std::sync::{Arc, Mutex};

#[test]
fn runtime_drains_and_reports_and_later_releases_stay_on_the_finalizer() {
    // Not about stuck releases: under valgrind on a loaded machine a release can be held up
    // long enough for the default 1 s deadline to declare it stuck, and the drains below
    // would then report `Stuck` instead of `Ok`.
    finalizer::set_stuck_deadline(std::time::Duration::from_secs(20));
    let log = Log::default();

    // 1. A clean exit: pending counted releases are drained.
    let rt = guard_core::runtime();
    for _ in 0..100 {
        drop(Counted::new(Probe::new("drained", &log)));
    }
    let exit = rt.finish();
    assert!(exit.flush.is_ok());
    assert!(exit.is_clean(), "{exit}");
    assert_eq!(log.count("drained"), 100);

    // 2. A unique resource still live at exit is reported, with its type.
    let rt = guard_core::runtime();
    scope(|s| {
        let _live = s.enter(Probe::new("still live", &log));
        let exit = rt.finish();
        assert!(!exit.is_clean());
        assert_eq!(exit.report.live_count(Kind::Unique), 1);
        let text = exit.to_string();
        assert!(text.contains("1 unique resource(s) still live"), "{text}");
        assert!(text.contains("Probe"), "{text}");
        Ok::<_, std::io::Error>(())
    })
    .unwrap();

    // 3. After the last runtime guard, a counted release still runs on the finalizer,
    //    never inline on the dropping thread, and nothing is reported.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    guard_core::event::set_hook(move |e| sink.lock().unwrap().push(e.to_string()));
    let before = finalizer::stats();
    drop(Counted::new(Probe::new("after finish", &log)));
    finalizer::flush().unwrap();
    assert_eq!(
        log.threads().last().map(String::as_str),
        Some("guard-finalizer"),
        "released on the finalizer, not on the dropping thread"
    );
    assert_eq!(finalizer::stats().inline, before.inline);
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("released inline"))
    );

    // 4. A new runtime guard works as the first did.
    let rt = guard_core::runtime();
    drop(Counted::new(Probe::new("deferred again", &log)));
    assert!(rt.finish().flush.is_ok());
    assert_eq!(log.count("deferred again"), 1);
    assert_eq!(
        log.threads().last().map(String::as_str),
        Some("guard-finalizer")
    );
    guard_core::event::reset_hook();
}
