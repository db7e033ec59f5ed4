//! `#[resource(site)]`: a field holding the value's creation site, filled by a
//! `#[track_caller]` constructor, is what the report of the value dropped unreleased names,
//! over any part's site; `Resource::created` gives it too.

mod support;

use guard::Resource;
use guard::os::WriteFile;
use std::panic::Location;
use support::reports_of;

/// A session made by a constructor that records its caller.
#[derive(Resource)]
#[resource(unique)]
struct Session {
    #[resource]
    log: WriteFile,
    #[resource(site)]
    site: &'static Location<'static>,
}

impl Session {
    #[track_caller]
    fn open(path: &std::path::Path) -> Session {
        Session {
            log: WriteFile::create(path).unwrap(), // not this line: the caller's
            site: Location::caller(),
        }
    }
}

/// An enum: each variant may have its own site field.
#[derive(Resource)]
#[resource(unique)]
enum Conn {
    Open {
        #[resource(site)]
        at: &'static Location<'static>,
    },
    Closed,
}

#[test]
fn the_site_field_names_the_constructors_caller() {
    let path = std::env::temp_dir().join(format!("guard-macros-site-{}", std::process::id()));
    let mut called_at = 0;
    let seen = reports_of("::Session", || {
        called_at = line!() + 1;
        let session = Session::open(&path);
        assert_eq!(session.created().unwrap().site().line(), called_at);
        drop(session);
    });
    std::fs::remove_file(&path).unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (text, line) = &seen[0];
    assert_eq!(*line, called_at, "{text}");
    let here = format!("created at {}:{called_at}:", file!());
    assert!(text.contains(&here), "{text}");
    assert!(!text.contains("where its field"), "{text}");
}

#[test]
fn each_variant_has_its_own_site_field() {
    let seen = reports_of("::Conn", || {
        drop(Conn::Open {
            at: Location::caller(),
        });
        drop(Conn::Closed);
    });
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].0.contains(" created at "), "{:?}", seen[0]);
    assert!(seen[1].0.contains("(type defined at "), "{:?}", seen[1]);
}
