//! [`FdOwner`]: which guard-os type owns a registered fd.
//!
//! This layer sits below the types it names, so it names them by their kind and their
//! `std::any::type_name` written out, not by importing them; the unit test below checks
//! each name and kind against the type itself.

use guard_core::Kind;
use guard_core::census::Origin;
use std::panic::Location;

/// Which guard-os type owns a registered fd, and so its kind and type name.
///
/// One byte, kept beside the fd number in the registry's value and in the fd's owner: a
/// release error that has no caller (a close deferred to the end of a lease, a dropped
/// fd) can then name the real type and kind without a registry lookup, and at no cost in
/// memory (the byte fits in padding; see "Memory" in [`crate::Fds`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdOwner {
    Fd,
    ReadFile,
    WriteFile,
    PipeReader,
    PipeWriter,
    TcpListener,
    TcpStream,
    UdpSocket,
    UnixListener,
    UnixStream,
    IpcMutex,
    /// A child's exit fd: its pidfd (Linux), its exit-watching `kqueue` (macOS, FreeBSD).
    Child,
}

impl FdOwner {
    /// Whether closing `fd`, registered for this owner, cannot wait (F5: a counted fd's last
    /// drop closes it on the dropping thread only then). A pipe's read end and a listening
    /// or datagram socket, by their type (a `From<OwnedFd>` is the caller's word for
    /// what the fd is); a generic `Fd` or a read-only file, by what the fd is
    /// (`sys::closes_without_waiting`: a file on FUSE or NFS, a connected socket, a
    /// terminal may wait). No other owner closes on a dropping thread.
    pub(crate) fn closes_without_waiting(self, fd: std::os::fd::BorrowedFd<'_>) -> bool {
        match self {
            FdOwner::PipeReader
            | FdOwner::TcpListener
            | FdOwner::UdpSocket
            | FdOwner::UnixListener => true,
            FdOwner::Fd | FdOwner::ReadFile => crate::sys::closes_without_waiting(fd),
            _ => false,
        }
    }

    /// Unique (released at a precise point) or counted, as the module docs' table says.
    pub(crate) fn kind(self) -> Kind {
        match self {
            FdOwner::WriteFile
            | FdOwner::PipeWriter
            | FdOwner::TcpStream
            | FdOwner::UnixStream
            | FdOwner::Child => Kind::Unique,
            FdOwner::Fd
            | FdOwner::ReadFile
            | FdOwner::PipeReader
            | FdOwner::TcpListener
            | FdOwner::UdpSocket
            | FdOwner::UnixListener
            | FdOwner::IpcMutex => Kind::Counted,
        }
    }

    /// The owning type's name, as `std::any::type_name` gives it (and guard-core's reports
    /// show it for the same type released on the finalizer).
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            FdOwner::Fd => "guard_os::fd::owned::Fd",
            FdOwner::ReadFile => "guard_os::file::read::ReadFile",
            FdOwner::WriteFile => "guard_os::file::write::WriteFile",
            FdOwner::PipeReader => "guard_os::pipe::PipeReader",
            FdOwner::PipeWriter => "guard_os::pipe::PipeWriter",
            FdOwner::TcpListener => "guard_os::socket::tcp::TcpListener",
            FdOwner::TcpStream => "guard_os::socket::tcp::TcpStream",
            FdOwner::UdpSocket => "guard_os::socket::udp::UdpSocket",
            FdOwner::UnixListener => "guard_os::socket::unix::UnixListener",
            FdOwner::UnixStream => "guard_os::socket::unix::UnixStream",
            FdOwner::IpcMutex => "guard_os::ipc_mutex::handle::IpcMutex",
            FdOwner::Child => "guard_os::command::child::Child",
        }
    }

    /// The registry origin of an fd of this type created at `site`.
    pub(crate) fn origin(self, site: &'static Location<'static>) -> Origin {
        Origin::new(self.kind(), self.type_name(), site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::any::type_name;

    /// `ty` names `T`, and is counted: `T`'s own classification says so.
    fn counted<T: guard_core::CountedResource>(ty: FdOwner) {
        assert_eq!(
            (ty.kind(), ty.type_name()),
            (Kind::Counted, type_name::<T>())
        );
    }

    /// `ty` names `T`, and is unique: `T`'s own classification says so.
    fn unique<T: guard_core::UniqueResource>(ty: FdOwner) {
        assert_eq!(
            (ty.kind(), ty.type_name()),
            (Kind::Unique, type_name::<T>())
        );
    }

    #[test]
    fn every_tag_has_its_types_name_and_classification() {
        counted::<crate::Fd>(FdOwner::Fd);
        counted::<crate::ReadFile>(FdOwner::ReadFile);
        unique::<crate::WriteFile>(FdOwner::WriteFile);
        counted::<crate::PipeReader>(FdOwner::PipeReader);
        unique::<crate::PipeWriter>(FdOwner::PipeWriter);
        counted::<crate::TcpListener>(FdOwner::TcpListener);
        unique::<crate::TcpStream>(FdOwner::TcpStream);
        counted::<crate::UdpSocket>(FdOwner::UdpSocket);
        counted::<crate::UnixListener>(FdOwner::UnixListener);
        unique::<crate::UnixStream>(FdOwner::UnixStream);
        counted::<crate::IpcMutex>(FdOwner::IpcMutex);
        unique::<crate::Child>(FdOwner::Child);
        let o = FdOwner::PipeWriter.origin(Location::caller());
        assert_eq!(o.site().line(), line!() - 1);
        assert_eq!(std::mem::size_of::<FdOwner>(), 1);
    }
}
