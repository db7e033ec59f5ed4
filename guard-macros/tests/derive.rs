//! Compile-pass shapes: every kind of item the derive accepts, with the impls it must
//! produce. The lints are strict on purpose: generated code must not warn in user code.

#![deny(warnings, unused_qualifications, clippy::all, clippy::pedantic)]

mod support;

use guard::{Counted, CountedResource, Resource, UniqueResource};
use std::marker::PhantomData;
use support::{Fd, Log, Unique};

fn unique<T: UniqueResource>(value: T) -> T {
    value
}

fn counted<T: CountedResource>(value: T) -> T {
    value
}

/// A unique struct with a plain field.
#[derive(Resource)]
#[resource(unique)]
struct Conn {
    #[resource]
    socket: Unique,
    peer: String,
}

/// A unique tuple struct.
#[derive(Resource)]
#[resource(unique)]
struct Pipe(#[resource] Unique, #[resource] Fd);

/// No fields at all: a marker resource.
#[derive(Resource)]
#[resource(counted)]
struct Token;

/// No marked fields: released by the hook alone.
#[derive(Resource)]
#[resource(unique, release = Self::commit)]
struct Transaction {
    committed: bool,
}

impl Transaction {
    #[allow(clippy::unnecessary_wraps)] // the hook's signature is fixed
    fn commit(&mut self) -> Result<(), std::io::Error> {
        self.committed = true;
        Ok(())
    }
}

/// An enum with unit, tuple and struct variants.
#[derive(Resource)]
#[resource(unique)]
enum Stream {
    Closed,
    Plain(#[resource] Unique),
    Tls {
        #[resource]
        socket: Unique,
        #[resource]
        session: Fd,
        sni: String,
    },
}

/// An enum no value can have.
#[derive(Resource)]
#[resource(unique)]
enum Never {}

/// Generics, a const parameter and a where clause.
#[derive(Resource)]
#[resource(unique)]
struct Pool<T, const N: usize>
where
    T: Send,
{
    #[resource]
    first: T,
    #[resource]
    rest: Fd,
    sizes: [usize; N],
}

/// A counted generic: its marked parameter must be counted, its plain one `Send + 'static`.
#[derive(Resource)]
#[resource(counted)]
struct Shared<T, M> {
    #[resource]
    inner: T,
    meta: PhantomData<M>,
}

/// A unique type may borrow.
#[derive(Resource)]
#[resource(unique)]
struct Borrowing<'a> {
    #[resource]
    socket: Unique,
    name: &'a str,
}

/// Nested: a unique struct holding a counted struct holding an fd-like resource.
#[derive(Resource)]
#[resource(counted)]
struct Snapshot {
    #[resource]
    fd: Fd,
    len: u64,
}

#[derive(Resource)]
#[resource(unique)]
struct Journal {
    #[resource]
    file: Unique,
    #[resource]
    snapshot: Snapshot,
    /// A handle is plain data: dropping it hands the value to the finalizer.
    shared: Counted<Snapshot>,
}

/// The dependency under another name.
mod renamed {
    use guard as my_guard;

    #[derive(my_guard::Resource)]
    #[resource(counted, crate = my_guard)]
    pub struct Handle {
        #[resource]
        pub fd: crate::Fd,
    }

    #[derive(my_guard::Resource)]
    #[resource(unique, crate = "::guard")]
    pub struct Quoted {
        #[resource]
        pub fd: crate::Fd,
    }
}

/// Types declared by a `macro_rules!` macro.
macro_rules! declare {
    ($name:ident, $field:ident: $ty:ty) => {
        #[derive(Resource)]
        #[resource(unique)]
        struct $name {
            #[resource]
            $field: $ty,
        }
    };
}

declare!(Declared, socket: Unique);

/// What was released, without the thread suffix of counted leaves.
fn released(log: &Log) -> Vec<String> {
    log.entries()
        .into_iter()
        .map(|e| e.split(" on ").next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn structs_release_their_marked_fields() {
    let log = Log::new();
    let conn = unique(Conn {
        socket: Unique::new("socket", &log),
        peer: "db".into(),
    });
    assert_eq!(conn.peer, "db");
    conn.release().unwrap();
    unique(Pipe(Unique::new("read", &log), Fd::new("write", &log)))
        .release()
        .unwrap();
    counted(Token).release().unwrap();
    let mut tx = unique(Transaction { committed: false });
    tx.commit().unwrap();
    assert!(tx.committed);
    tx.release().unwrap();
    let name = String::from("borrowed");
    let borrowing = unique(Borrowing {
        socket: Unique::new("borrowing", &log),
        name: &name,
    });
    assert_eq!(borrowing.name, "borrowed");
    borrowing.release().unwrap();
    unique(Declared {
        socket: Unique::new("declared", &log),
    })
    .release()
    .unwrap();
    assert_eq!(
        released(&log),
        ["socket", "write", "read", "borrowing", "declared"]
    );
}

#[test]
fn enums_release_the_active_variant() {
    let log = Log::new();
    unique(Stream::Closed).release().unwrap();
    unique(Stream::Plain(Unique::new("plain", &log)))
        .release()
        .unwrap();
    let tls = Stream::Tls {
        socket: Unique::new("socket", &log),
        session: Fd::new("session", &log),
        sni: "example".into(),
    };
    if let Stream::Tls { sni, .. } = &tls {
        assert_eq!(sni, "example");
    }
    unique(tls).release().unwrap();
    let _: fn(Never) -> Result<(), guard::ReleaseErrors> = Never::release;
    assert_eq!(released(&log), ["plain", "session", "socket"]);
}

#[test]
fn generics_get_the_bounds_of_their_kind() {
    let log = Log::new();
    let pool = unique(Pool::<Unique, 2> {
        first: Unique::new("first", &log),
        rest: Fd::new("rest", &log),
        sizes: [1, 2],
    });
    assert_eq!(pool.sizes, [1, 2]);
    pool.release().unwrap();
    let shared = counted(Shared::<Fd, String> {
        inner: Fd::new("inner", &log),
        meta: PhantomData,
    });
    let _ = shared.meta;
    Counted::new(shared).try_release().unwrap();
    assert_eq!(released(&log), ["rest", "first", "inner"]);
}

#[test]
fn nested_derived_resources_release_inside_out() {
    let log = Log::new();
    let journal = unique(Journal {
        file: Unique::new("file", &log),
        snapshot: counted(Snapshot {
            fd: Fd::new("fd", &log),
            len: 1,
        }),
        shared: Counted::new(Snapshot {
            fd: Fd::new("shared fd", &log),
            len: 2,
        }),
    });
    assert_eq!(journal.snapshot.len + journal.shared.len, 3);
    journal.release().unwrap();
    guard::finalizer::flush().unwrap();
    assert_eq!(released(&log), ["fd", "file", "shared fd"]);
}

#[test]
fn a_renamed_dependency_is_named_with_crate() {
    let log = Log::new();
    counted(renamed::Handle {
        fd: Fd::new("renamed", &log),
    })
    .release()
    .unwrap();
    unique(renamed::Quoted {
        fd: Fd::new("quoted", &log),
    })
    .release()
    .unwrap();
    assert_eq!(released(&log), ["renamed", "quoted"]);
}

/// Generated code names everything by absolute path: it needs no prelude.
#[no_implicit_prelude]
mod without_prelude {
    #[derive(::guard::Resource)]
    #[resource(unique, release = Self::hook)]
    pub enum Either {
        Left(#[resource] crate::Unique),
        Right {
            #[resource]
            fd: crate::Fd,
        },
    }

    impl Either {
        #[allow(clippy::unnecessary_wraps, clippy::unused_self)] // the hook's signature is fixed
        fn hook(&mut self) -> ::std::io::Result<()> {
            ::std::result::Result::Ok(())
        }
    }
}

#[test]
fn derives_work_without_prelude_and_inside_functions() {
    #[derive(Resource)]
    #[resource(counted)]
    struct Local {
        #[resource]
        fd: Fd,
    }

    let log = Log::new();
    unique(without_prelude::Either::Left(Unique::new("left", &log)))
        .release()
        .unwrap();
    unique(without_prelude::Either::Right {
        fd: Fd::new("right", &log),
    })
    .release()
    .unwrap();
    counted(Local {
        fd: Fd::new("local", &log),
    })
    .release()
    .unwrap();
    assert_eq!(released(&log), ["left", "right", "local"]);
}
