//! The impls the fd types share, written once: [`fd_access!`] (reaching the registered
//! [`Fd`](crate::Fd) of any fd type, unique or counted) and [`counted_fd!`] (the close and
//! release of a counted one).
//!
//! Each type keeps its constructors and other methods, with their docs and examples, in its
//! own file, and passes the docs of its `close` in; only what is the same to the letter
//! for every type is generated here. Paths are absolute (`$crate::`, `::core`, `::std`,
//! `::guard_core`), so the macros expand the same wherever they are invoked.

/// `registered_fd()`, [`AsFd`](std::os::fd::AsFd) and [`AsRawFd`](std::os::fd::AsRawFd) for
/// `$ty`, all through `$fd`, an expression of type `&Fd` in terms of `$s: &$ty` (as in
/// `fd_access!(PipeWriter => |s| s.fd.get())`).
///
/// With a trailing `, Debug`, also [`Debug`](core::fmt::Debug) as the type's name and fd
/// number, `PipeWriter(5)`; the types that print more (or print it as a struct, as the
/// files do) write their own.
macro_rules! fd_access {
    ($ty:ident => |$s:ident| $fd:expr, Debug) => {
        $crate::fd::fd_access!($ty => |$s| $fd);

        impl ::core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let $s = self;
                f.debug_tuple(::core::stringify!($ty))
                    .field(&::std::os::fd::AsRawFd::as_raw_fd($fd))
                    .finish()
            }
        }
    };
    ($ty:ident => |$s:ident| $fd:expr) => {
        impl $ty {
            /// The registered fd (for the registry key [`Registered`](crate::Registered)
            /// needs).
            pub(crate) fn registered_fd(&self) -> &$crate::Fd {
                let $s = self;
                $fd
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                let $s = self;
                ::std::os::fd::AsFd::as_fd($fd)
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                let $s = self;
                ::std::os::fd::AsRawFd::as_raw_fd($fd)
            }
        }
    };
}

/// What a counted fd type shares: its release is `close`, which only gives a number back.
///
/// - `counted_fd!(release $ty)`: [`Resource`](guard_core::Resource) with `release` = the
///   type's own `close` (documented "Same as `Ty::close`", linked), and
///   [`CountedResource`](guard_core::CountedResource) with the default
///   `RELEASE_TAKES_NO_LOCK` (false: released on the finalizer). For
///   [`IpcMutex`](crate::IpcMutex), whose release also unmaps its lock page.
/// - `counted_fd! { /// docs ... close $ty }`: also `pub fn close(self)`, which closes the
///   field `fd: Fd` and carries the docs given (each type's own, with its example); its
///   release is the registry removal and `close(2)` only, so it sets
///   [`RELEASE_TAKES_NO_LOCK`](guard_core::CountedResource::RELEASE_TAKES_NO_LOCK): an
///   isolated last drop closes inline, as `std` does.
/// - `counted_fd! { /// docs ... $ty }`: also [`fd_access!`] through `&self.fd`; `$ty, Debug`
///   adds its `Debug` too. For the counted wrappers: [`ReadFile`](crate::ReadFile),
///   [`PipeReader`](crate::PipeReader), [`TcpListener`](crate::TcpListener),
///   [`UdpSocket`](crate::UdpSocket), [`UnixListener`](crate::UnixListener) (a listening
///   or datagram socket's close sends nothing that waits: no linger, no flush). Each also
///   answers `releases_without_waiting` from its fd's registration (a read-only file on
///   FUSE or NFS: no, it goes to the finalizer).
macro_rules! counted_fd {
    (release $ty:ident) => {
        $crate::fd::counted_fd!(@release $ty, false);
    };
    (@release $ty:ident, $no_lock:literal $(, $fd:ident)?) => {
        impl ::guard_core::Resource for $ty {
            type Error = $crate::Error;
            #[doc = ::core::concat!("Same as [`", ::core::stringify!($ty), "::close`].")]
            fn release(self) -> $crate::Result<()> {
                self.close()
            }
            $(
                fn created(&self) -> ::core::option::Option<::guard_core::Created> {
                    $crate::fd::created(::core::option::Option::Some(&self.$fd), "opened")
                }
            )?
        }

        impl ::guard_core::CountedResource for $ty {
            const RELEASE_TAKES_NO_LOCK: bool = $no_lock;
            $(
                fn releases_without_waiting(&self) -> bool {
                    self.$fd.closes_without_waiting()
                }
            )?
        }
    };
    ($(#[$close:meta])* close $ty:ident) => {
        impl $ty {
            $(#[$close])*
            pub fn close(self) -> $crate::Result<()> {
                self.fd.close()
            }
        }

        $crate::fd::counted_fd!(@release $ty, true, fd);
    };
    ($(#[$close:meta])* $ty:ident $(, $debug:ident)?) => {
        $crate::fd::counted_fd!($(#[$close])* close $ty);
        $crate::fd::fd_access!($ty => |s| &s.fd $(, $debug)?);
    };
}

pub(crate) use {counted_fd, fd_access};
