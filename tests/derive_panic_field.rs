//! A derived resource whose field's release panics on the finalizer is reported with the
//! field's name (issue 13, bullet 5), through a derived field too. (Own test binary: the
//! event hook is process-wide.)

use guard::event::{self, Event};
use guard::{Counted, CountedResource, Resource};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Releases quietly.
struct Fine;

impl Resource for Fine {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl CountedResource for Fine {}

/// Panics in its release.
struct Boom;

impl Resource for Boom {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        panic!("boom in release")
    }
}
impl CountedResource for Boom {}

#[derive(Resource)]
#[resource(counted)]
struct Pair {
    #[resource]
    boom: Boom,
    #[resource]
    fine: Fine,
}

#[derive(Resource)]
#[resource(counted)]
struct Outer {
    #[resource]
    inner: Pair,
    #[resource]
    other: Fine,
}

/// What a `ReleasePanicked` event said: its field, and its text.
type Seen = (Option<String>, String);

#[test]
fn the_panicking_field_is_named() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = seen.clone();
    event::set_hook(move |e: &Event<'_>| {
        if let Event::ReleasePanicked { field, .. } = e {
            sink.lock()
                .unwrap()
                .push((field.map(str::to_owned), e.to_string()));
        }
    });
    drop(Counted::new(Pair {
        boom: Boom,
        fine: Fine,
    }));
    drop(Counted::new(Outer {
        inner: Pair {
            boom: Boom,
            fine: Fine,
        },
        other: Fine,
    }));
    guard::finalizer::flush_timeout(Duration::from_secs(20)).unwrap();
    let seen = seen.lock().unwrap().clone();
    let fields: Vec<Option<String>> = seen.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(
        fields,
        [Some("boom".to_owned()), Some("inner.boom".to_owned())],
        "{seen:?}"
    );
    assert!(
        seen[1]
            .1
            .contains("panicked in `inner.boom`: boom in release"),
        "{seen:?}"
    );
}
