//! Generated code against hostile surroundings: user items that shadow the names it could
//! use (`Result`, `Ok`, `Option`, `Send`, modules `core`, `std`, `guard`), raw identifiers,
//! `#[cfg]`-stripped fields, and generics with defaults, `?Sized`, const parameters and where
//! clauses.

#![allow(dead_code, non_camel_case_types)]

mod support;

use guard::{Counted, Resource};
use support::{Fd, Log, Outcome, Unique};

mod shadowing {
    use crate::support::{Fd, Unique};
    pub struct Result;
    pub struct Ok;
    pub struct Err;
    pub struct Box;
    pub struct Vec;
    pub struct Option;
    pub struct Some;
    pub struct None;
    pub struct Release;
    pub struct Kind;
    pub mod core {}
    pub mod std {}
    mod guard {}
    pub trait Send {}
    pub trait Sized {}

    #[derive(::guard::Resource)]
    #[resource(unique, release = Self::hook)]
    pub struct Shadowed {
        #[resource]
        pub a: Unique,
        #[resource]
        pub r#type: Unique,
        pub b: u8,
    }

    impl Shadowed {
        fn hook(&mut self) -> ::std::io::Result<()> {
            self.b += 1;
            ::std::result::Result::Ok(())
        }
    }

    #[derive(::guard::Resource)]
    #[resource(counted)]
    pub enum E<T> {
        Unit,
        Tup(#[resource] Fd, T),
        St {
            #[resource]
            r#type: Fd,
            #[cfg(any())]
            #[resource]
            gone: Fd,
            x: u8,
        },
        r#match,
    }
}

#[derive(Resource)]
#[resource(unique)]
struct Gen<'a, T: ?Sized + 'a, const N: usize, X = u8>
where
    T: 'a,
    X: Copy,
{
    #[resource]
    a: Unique,
    t: &'a T,
    x: [X; N],
}

#[derive(Resource)]
#[resource(unique)]
struct Tup<T>(#[cfg(any())] Unique, #[resource] T, u8, #[resource] Unique);

#[test]
fn shadowing_raw_idents_cfg_and_generics() {
    let log = Log::new();
    let errors = shadowing::Shadowed {
        a: Unique::with("a", &log, Outcome::Ok),
        r#type: Unique::with("type", &log, Outcome::Fail),
        b: 0,
    }
    .release()
    .unwrap_err();
    let names: std::vec::Vec<&str> = errors.parts().map(|(n, _)| n).collect();
    assert_eq!(names, ["type"]);
    let e = shadowing::E::<u8>::St {
        r#type: Fd::with("st", &log, Outcome::Fail),
        x: 1,
    };
    let errors = e.release().unwrap_err();
    assert_eq!(errors.parts().next().unwrap().0, "St.type");
    shadowing::E::<u8>::r#match.release().unwrap();
    Gen::<str, 2> {
        a: Unique::new("gen", &log),
        t: "x",
        x: [1, 2],
    }
    .release()
    .unwrap();
    let errors = Tup(
        Unique::with("t0", &log, Outcome::Fail),
        7,
        Unique::new("t2", &log),
    )
    .release()
    .unwrap_err();
    // after cfg-stripping, the first field is index 0
    assert_eq!(errors.parts().next().unwrap().0, "0");
    let released: std::vec::Vec<String> = log
        .entries()
        .into_iter()
        .map(|e| e.split(" on ").next().unwrap().to_owned())
        .collect();
    assert_eq!(released, ["type", "a", "st", "gen", "t2", "t0"]);
}

#[test]
fn a_counted_generic_enum_in_a_handle() {
    let log = Log::new();
    let h = Counted::new(shadowing::E::<String>::Tup(
        Fd::new("tup", &log),
        "x".into(),
    ));
    h.try_release().unwrap();
    assert_eq!(log.entries().len(), 1);
}
