//! A derived unique value dropped without being released is reported, like a leaf one:
//! built and dropped outside any scope, taken back out of a scope with `into_inner`, with
//! or without `#[resource]` fields; a value released (by a scope or by hand) is not.

mod support;

use guard::event::{self, Event};
use guard::{Resource, scope};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use support::{Log, Unique};

/// No resource field at all: only its own `Drop` can report it.
const PLAIN_DERIVED_AT: u32 = line!() + 1;
#[derive(Resource)]
#[resource(unique)]
struct Plain {
    #[allow(dead_code)]
    id: u32,
}

/// Released parts and plain ones.
#[derive(Resource)]
#[resource(unique)]
struct Mixed {
    #[resource]
    part: Unique,
    #[allow(dead_code)]
    label: String,
}

/// An enum, a tuple variant holding a part.
#[derive(Resource)]
#[resource(unique)]
enum Either {
    Part(#[resource] Unique),
    Nothing,
}

/// `#[repr(packed)]`: the release reads its fields unaligned.
#[derive(Resource)]
#[resource(unique)]
#[repr(C, packed)]
struct Packed {
    #[allow(dead_code)]
    byte: u8,
    #[allow(dead_code)]
    wide: u64,
}

/// The derived types' names in the `Unreleased` events sent while `f` runs, in order.
/// Tests share the one event hook, so each runs under this lock.
fn unreleased_during(f: impl FnOnce()) -> Vec<String> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    event::set_hook(move |e| {
        if let Event::Unreleased { origin, .. } = e {
            let name = origin
                .type_name()
                .rsplit("::")
                .next()
                .unwrap_or("")
                .to_owned();
            let site = origin.site().file().to_owned();
            if name == "Plain" {
                // The site reported is the derive's: a struct expression has no other.
                assert_eq!(origin.site().line(), PLAIN_DERIVED_AT);
            }
            sink.lock().unwrap().push(format!("{name} at {site}"));
        }
    });
    f();
    event::reset_hook();
    std::mem::take(&mut *seen.lock().unwrap())
}

const HERE: &str = file!();

#[test]
fn a_derived_value_dropped_outside_any_scope_is_reported() {
    let log = Log::new();
    let seen = unreleased_during(|| {
        drop(Plain { id: 1 });
        drop(Mixed {
            part: Unique::new("part", &log),
            label: "m".into(),
        });
        drop(Either::Part(Unique::new("either", &log)));
        drop(Either::Nothing);
        drop(Packed { byte: 1, wide: 2 });
    });
    assert_eq!(
        seen,
        [
            format!("Plain at {HERE}"),
            format!("Mixed at {HERE}"),
            format!("Either at {HERE}"),
            format!("Either at {HERE}"),
            format!("Packed at {HERE}"),
        ]
    );
}

#[test]
fn a_derived_value_taken_back_with_into_inner_and_dropped_is_reported() {
    let seen = unreleased_during(|| {
        let plain = scope(|s| Ok::<_, Infallible>(s.enter(Plain { id: 2 }).into_inner())).unwrap();
        drop(plain);
    });
    assert_eq!(seen, [format!("Plain at {HERE}")]);
}

#[test]
fn a_released_derived_value_is_not_reported() {
    let log = Log::new();
    let seen = unreleased_during(|| {
        scope(|s| {
            let _plain = s.enter(Plain { id: 3 });
            let _mixed = s.enter(Mixed {
                part: Unique::new("scoped", &log),
                label: "s".into(),
            });
            let _either = s.enter(Either::Part(Unique::new("scoped either", &log)));
            let _packed = s.enter(Packed { byte: 3, wide: 4 });
            Ok::<_, Infallible>(())
        })
        .unwrap();
        Plain { id: 4 }.release().unwrap();
        Mixed {
            part: Unique::new("by hand", &log),
            label: "h".into(),
        }
        .release()
        .unwrap();
        Either::Nothing.release().unwrap();
        Packed { byte: 5, wide: 6 }.release().unwrap();
    });
    assert_eq!(seen, Vec::<String>::new());
    assert_eq!(log.entries(), ["scoped either", "scoped", "by hand"]);
}
