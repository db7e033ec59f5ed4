//! Every public error of guard-os goes with `?` where users send errors: guard's umbrella
//! `guard::Error` (guard-core's), `Box<dyn Error + Send + Sync>` and anyhow; and its
//! message says the OS cause once, on its own line or down a chain.

use guard_os::{Error, ReadFile, TcpListener, TryFromFdError};
use std::error::Error as StdError;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Compiles only if the error `$make` returns goes with `?` into each of the three.
macro_rules! converts {
    ($make:expr) => {{
        fn umbrella() -> Result<(), guard_core::Error> {
            Err($make)?
        }
        fn boxed() -> Result<(), BoxError> {
            Err($make)?
        }
        fn any() -> anyhow::Result<()> {
            Err($make)?
        }
        assert!(umbrella().is_err());
        assert!(boxed().is_err());
        assert!(any().is_err());
    }};
}

fn open_error() -> Error {
    ReadFile::open("/no/such/file").unwrap_err()
}

fn convert_error() -> TryFromFdError {
    let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null").unwrap().into());
    TcpListener::try_from(fd).unwrap_err()
}

#[test]
fn every_public_error_converts_with_the_question_mark() {
    converts!(open_error());
    converts!(convert_error());
}

/// The messages of `e` and of each source, as a report walking the chain prints them.
fn chain(e: &(dyn StdError + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut next = e.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

const OPEN: &str = "opening `/no/such/file` failed: No such file or directory (os error 2)";

#[test]
fn the_os_cause_is_on_the_same_line_and_shown_once() {
    let e = open_error();
    assert_eq!(e.to_string(), OPEN);
    assert_eq!(chain(&e), [OPEN]);
    assert_eq!(e.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);

    let any = anyhow::Error::from(open_error());
    assert_eq!(format!("{any:#}"), OPEN);
    let umbrella = guard_core::Error::from(open_error());
    assert_eq!(chain(&umbrella), [OPEN]);
    let any = anyhow::Error::from(umbrella);
    assert_eq!(format!("{any:#}"), OPEN);
    let io = std::io::Error::from(open_error());
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(chain(&io), [OPEN]);
}
