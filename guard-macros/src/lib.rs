//! Derive macros for [guard](https://docs.rs/guard): `#[derive(Resource)]` classifies a
//! struct or enum made of resources as unique or counted and generates its release.
//! Use it through the facade, as `guard::Resource`; see the derive's documentation.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;

/// Derives `guard::Resource` for a struct or enum made of resources, plus the marker trait
/// of its kind: `guard::UniqueResource` or `guard::CountedResource`.
///
/// # Classification (required)
///
/// - `#[resource(unique)]`: released at a precise point, at the end of its `guard::scope`
///   (a lock acquisition, a writable file, a connection). May hold both kinds of parts.
/// - `#[resource(counted)]`: released later, on the finalizer thread, when its last
///   `guard::Counted` handle goes (a read-only fd, a listener). The derive keeps
///   `CountedResource::RELEASE_TAKES_NO_LOCK` false (a release is never run on the dropping
///   thread), even when every field sets it: a derived type's release may hold more
///   than its fields (a release hook, plain fields whose `Drop` runs user code). Every `#[resource]` field must
///   be counted too, every other field `Send + 'static` and no unique resource (a plain
///   field is only dropped, so a unique one in it would never be released), and the type
///   may not borrow. It may
///   hold handles to its own type (a directory keeping its parent open:
///   `parent: Option<Counted<Dir>>`); name the type (or `Self`) in the field, not an alias.
///
/// # Attributes
///
/// | where | attribute | meaning |
/// |---|---|---|
/// | type | `#[resource(unique)]` or `#[resource(counted)]` | the classification, exactly one |
/// | type | `#[resource(release = path)]` | a hook `fn(&mut Self) -> Result<(), E>` (with `E: Into<guard::BoxError>`), run first, e.g. to flush a buffer |
/// | type | `#[resource(crate = path)]` | the facade's path, if the dependency is renamed (`crate = my_guard`) |
/// | field | `#[resource]` (bare: no parentheses, no value) | the field holds a resource, directly or through `Option`, `Box`, `Vec`, an array or a boxed slice (nested at any depth): it is released, not merely dropped |
/// | field | `#[resource(site)]` | the field (a `&'static std::panic::Location<'static>`) holds where the value was created: reports name it (see "Dropped unreleased") |
///
/// # The generated release
///
/// `release` runs the hook, then releases each `#[resource]` field in **reverse declaration
/// order** (for an enum, those of the active variant), and always attempts every one of
/// them. Every error is returned in one `guard::ReleaseErrors`, each with the field's name
/// (`file`; `0` for a tuple field; `Open.file` in an enum variant; the hook's path for the
/// hook). A field holding several resources (`Vec`, an array) releases them last first, and
/// an element's error says which (`element [2]: ...`, the element's error as its source);
/// `None` releases nothing. A panic in the hook or in a field is caught, the remaining
/// fields are still released, then the first panic resumes. Plain fields are dropped as
/// usual, afterwards.
///
/// Entering the value in a `guard::scope` or wrapping it in `guard::Counted::new` registers
/// it in `guard::report()` with its type name and creation site; nothing else is needed.
///
/// # Dropped unreleased
///
/// A unique type gets a `Drop` impl from the derive: a value dropped without being released
/// (never entered in a scope, or taken back out with `Guard::into_inner`) is reported to
/// the event hook (`guard::event::Event::Unreleased`) and counted in `guard::report()`, as
/// a leaf resource's drop is. Its parts are then dropped as usual (a leaf resource among
/// them releases itself and reports too). So a unique derived type cannot be taken apart
/// by a pattern nor have a field moved out: release it, or take what it holds through its
/// release hook.
///
/// A struct expression runs no code of guard's, so the report says where the value was
/// created as well as the value knows it (the derive's `Resource::created`), best first:
///
/// 1. its `#[resource(site)]` field, of type `&'static std::panic::Location<'static>`,
///    filled with `Location::caller()` by a `#[track_caller]` constructor: the report
///    names the constructor's caller ("created at src/main.rs:40"). A field of another
///    type is a compile error at the field;
/// 2. else the first `#[resource]` field, in declaration order, whose value knows its own
///    creation site (guard's files, pipes, sockets, locks and children do; so does a nested
///    derived value), looking into `Option`, `Box`, `Vec` and arrays; the report names the
///    field ("created at src/x.rs:12, where its field `log` was opened");
/// 3. else it says where the type is defined ("type defined at" the derive's line), never
///    a creation site it does not know.
///
/// In the `Drop` of a generic type, a field whose type is a parameter is not asked (a
/// `Drop` impl cannot require it to be a resource); a value holding that type, with the
/// parameter filled in, asks it. With `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` set, the
/// report also carries a backtrace of where the value was dropped, captured on this path
/// only; without them, none is captured.
///
/// ```
/// use std::panic::Location;
///
/// #[derive(guard::Resource)]
/// #[resource(unique)]
/// struct Session {
///     id: u64,
///     #[resource(site)]
///     opened_at: &'static Location<'static>,
/// }
///
/// impl Session {
///     #[track_caller]
///     fn open(id: u64) -> Session {
///         Session { id, opened_at: Location::caller() }
///     }
/// }
///
/// guard::event::set_hook(|event| eprintln!("{event}"));
/// let before = guard::report().unreleased();
/// let session = Session::open(7);
/// assert_eq!(guard::Resource::created(&session).unwrap().site().line(), line!() - 1);
/// drop(session); // reported: "unique `...Session` created at <the `open` line> was dropped ..."
/// assert_eq!(guard::report().unreleased(), before + 1);
/// # guard::event::reset_hook();
/// ```
///
/// # Compile-time checks
///
/// Each mistake is an error at the offending tokens, all the mistakes of one item are
/// reported together, and the type still gets stub impls so that nothing else cascades:
/// a missing, repeated or conflicting classification; unknown or duplicate keys; a field's
/// `#[resource]` with parentheses or a value; a union; a counted type with a lifetime, a
/// `#[resource]` field that is not counted, a field that is not `Send` (the error points
/// at the field; in a type that holds its own type, the derive is reported too) or a plain
/// field that holds a unique resource, directly or through `Option`, `Box`, `Vec`,
/// `VecDeque`, arrays and tuples (the error points at the unique type; one held through
/// another type, or a generic parameter, is not seen); a
/// `#[resource]` field that is not a resource; a hook that is called (`Self::flush()`) or has
/// the wrong signature; a `#[resource(site)]` field that is not a
/// `&'static Location<'static>`, a second one, or one also marked `#[resource]`; a bad
/// `crate` path (then without stubs, as the facade's path is
/// unknown); and a user `impl Drop`.
///
/// # Examples
///
/// ```
/// use guard::{Counted, Resource, UniqueResource, CountedResource};
/// use std::sync::{Arc, Mutex};
///
/// type Log = Arc<Mutex<Vec<&'static str>>>;
///
/// /// A leaf resource, implemented by hand: a writable file.
/// struct WriteFile(&'static str, Log);
/// impl Resource for WriteFile {
///     type Error = std::io::Error;
///     fn release(self) -> std::io::Result<()> {
///         self.1.lock().unwrap().push(self.0);
///         Ok(())
///     }
/// }
/// impl UniqueResource for WriteFile {}
///
/// /// A leaf resource: a read-only fd, only its count matters.
/// struct ReadFile(&'static str, Log);
/// impl Resource for ReadFile {
///     type Error = std::io::Error;
///     fn release(self) -> std::io::Result<()> {
///         self.1.lock().unwrap().push(self.0);
///         Ok(())
///     }
/// }
/// impl CountedResource for ReadFile {}
///
/// /// Counted: may be released later, on the finalizer thread.
/// #[derive(Resource)]
/// #[resource(counted)]
/// struct Snapshot {
///     #[resource]
///     data: ReadFile,
///     len: u64,
/// }
///
/// /// Unique: released at the end of its scope; the hook flushes first.
/// #[derive(Resource)]
/// #[resource(unique, release = Self::flush)]
/// struct Journal {
///     #[resource]
///     index: ReadFile,
///     #[resource]
///     file: WriteFile,
///     pending: Vec<u8>,
///     log: Log,
/// }
///
/// impl Journal {
///     fn flush(&mut self) -> std::io::Result<()> {
///         self.log.lock().unwrap().push("flush");
///         self.pending.clear();
///         Ok(())
///     }
/// }
///
/// let log = Log::default();
/// guard::scope(|s| {
///     let mut journal = s.enter(Journal {
///         index: ReadFile("index", log.clone()),
///         file: WriteFile("file", log.clone()),
///         pending: Vec::new(),
///         log: log.clone(),
///     });
///     journal.pending.extend_from_slice(b"entry");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap(); // released here: the hook first, then the fields, last declared first
/// assert_eq!(*log.lock().unwrap(), ["flush", "file", "index"]);
///
/// let snapshot = Counted::new(Snapshot { data: ReadFile("data", log.clone()), len: 5 });
/// assert_eq!(snapshot.len, 5);
/// drop(snapshot); // the last handle: released on the finalizer thread
/// guard::finalizer::flush().unwrap();
/// assert_eq!(log.lock().unwrap().last(), Some(&"data"));
/// ```
///
/// A counted type cannot hold what cannot be sent to the finalizer thread (the error points
/// at the field and says to mark the type unique or change the field):
///
/// ```compile_fail,E0277
/// #[derive(guard::Resource)]
/// #[resource(counted)]
/// struct Cached {
///     data: std::rc::Rc<Vec<u8>>,
/// }
/// ```
///
/// Nor a unique resource in a plain field, which it would drop unreleased (the error says to
/// mark the type unique and the field `#[resource]`):
///
/// ```compile_fail,E0277
/// struct WriteFile;
/// impl guard::Resource for WriteFile {
///     type Error = std::io::Error;
///     fn release(self) -> std::io::Result<()> { Ok(()) }
/// }
/// impl guard::UniqueResource for WriteFile {}
///
/// #[derive(guard::Resource)]
/// #[resource(counted)]
/// struct Session {
///     log: Option<WriteFile>,
///     id: u64,
/// }
/// ```
///
/// A derived type must not implement `Drop`: its release is its destructor. Put the logic
/// in the release hook instead. For a unique type, a user's `impl Drop` conflicts with the
/// derive's own:
///
/// ```compile_fail,E0119
/// #[derive(guard::Resource)]
/// #[resource(unique)]
/// struct Journal {
///     pending: Vec<u8>,
/// }
///
/// impl Drop for Journal {
///     fn drop(&mut self) {}
/// }
/// ```
///
/// and a counted type's release takes the value apart, which a type with `Drop` cannot be:
///
/// ```compile_fail,E0277
/// #[derive(guard::Resource)]
/// #[resource(counted)]
/// struct Snapshot {
///     pending: Vec<u8>,
/// }
///
/// impl Drop for Snapshot {
///     fn drop(&mut self) {}
/// }
/// ```
#[proc_macro_derive(Resource, attributes(resource))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
