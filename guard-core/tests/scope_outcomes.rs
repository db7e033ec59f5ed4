//! S2 made total: whatever mix of body error, body panic, release errors and release
//! panics, each message reaches the caller (in the result, or as the panic that resumes)
//! or the event hook, exactly once. One test in its own binary: it owns the process-wide
//! event hook and panic hook.

mod common;

use common::{Log, Probe};
use guard_core::{Guard, scope};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[derive(Clone, Copy, Debug)]
enum Body {
    Ok,
    Err,
    Panic,
}

/// Runs one scope and returns every text that reached the caller or the hook.
fn run(body: Body, errs: usize, panics: usize, forget: bool) -> Vec<String> {
    EVENTS.lock().unwrap().clear();
    let log = Log::default();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        scope(|s| {
            let mut kept: Vec<Guard<'_, Probe>> = Vec::new();
            let mut hold = |g| {
                if forget {
                    std::mem::forget(g);
                } else {
                    kept.push(g);
                }
            };
            // Interleaved with succeeding releases, so no failure is next to another.
            hold(s.enter(Probe::new("ok-a", &log)));
            for i in 0..errs {
                hold(s.enter(Probe::failing(&format!("err{i}"), &log)));
                hold(s.enter(Probe::new("ok-b", &log)));
            }
            for i in 0..panics {
                hold(s.enter(Probe::panicking(&format!("pan{i}"), &log)));
                hold(s.enter(Probe::new("ok-c", &log)));
            }
            match body {
                Body::Ok => Ok(()),
                Body::Err => Err(std::io::Error::other("body-error")),
                Body::Panic => panic!("body-panic"),
            }
        })
    }));
    let mut seen = Vec::new();
    match caught {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            seen.extend(e.body().map(|b| b.to_string()));
            seen.extend(e.releases().iter().map(|r| r.error().to_string()));
        }
        Err(payload) => seen.push(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "<opaque payload>".to_owned()),
        ),
    }
    seen.extend(EVENTS.lock().unwrap().drain(..));
    let released = 1 + 2 * errs + 2 * panics;
    assert_eq!(log.len(), released, "every release ran once");
    seen
}

#[test]
fn every_message_reaches_the_result_or_the_hook_exactly_once() {
    guard_core::event::set_hook(|e| EVENTS.lock().unwrap().push(e.to_string()));
    std::panic::set_hook(Box::new(|_| {})); // the panics here are expected
    let mut wrong = Vec::new();
    for body in [Body::Ok, Body::Err, Body::Panic] {
        for errs in 0..=2 {
            for panics in 0..=2 {
                for forget in [false, true] {
                    let seen = run(body, errs, panics, forget);
                    let mut expected: Vec<String> = Vec::new();
                    match body {
                        Body::Ok => {}
                        Body::Err => expected.push("body-error".into()),
                        Body::Panic => expected.push("body-panic".into()),
                    }
                    expected.extend((0..errs).map(|i| format!("err{i} failed to close")));
                    expected.extend((0..panics).map(|i| format!("pan{i} panicked in release")));
                    for message in &expected {
                        let n = seen.iter().filter(|s| s.contains(message.as_str())).count();
                        if n != 1 {
                            wrong.push(format!(
                                "{body:?}, {errs} err, {panics} panic, forget {forget}: \
                                 {message:?} seen {n} times in {seen:?}"
                            ));
                        }
                    }
                    if seen.len() != expected.len() {
                        wrong.push(format!(
                            "{body:?}, {errs} err, {panics} panic, forget {forget}: \
                             {seen:?} is not one text per message of {expected:?}"
                        ));
                    }
                }
            }
        }
    }
    let _ = std::panic::take_hook();
    guard_core::event::reset_hook();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
