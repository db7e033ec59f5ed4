//! [`FdType`]: which guard-os type owns a registered fd.

use guard_core::Kind;
use guard_core::census::Origin;
use std::panic::Location;

/// Which guard-os type owns a registered fd, and so its kind and type name.
///
/// One byte, kept beside the fd number in the registry's value and in the fd's owner: a
/// release error that has no caller (a close deferred to the end of a lease, a dropped
/// fd) can then name the real type and kind without a registry lookup, and at no cost in
/// memory (the byte fits in what was padding; see "Memory" in [`crate::Fds`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdType {
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
}

impl FdType {
    /// Unique (released at a precise point) or counted, as the module docs' table says.
    pub(crate) fn kind(self) -> Kind {
        match self {
            FdType::WriteFile | FdType::PipeWriter | FdType::TcpStream | FdType::UnixStream => {
                Kind::Unique
            }
            FdType::Fd
            | FdType::ReadFile
            | FdType::PipeReader
            | FdType::TcpListener
            | FdType::UdpSocket
            | FdType::UnixListener
            | FdType::IpcMutex => Kind::Counted,
        }
    }

    /// The owning type's name, as `std::any::type_name` gives it (and guard-core's reports
    /// show it for the same type released on the finalizer).
    pub(crate) fn type_name(self) -> &'static str {
        use std::any::type_name;
        match self {
            FdType::Fd => type_name::<crate::Fd>(),
            FdType::ReadFile => type_name::<crate::ReadFile>(),
            FdType::WriteFile => type_name::<crate::WriteFile>(),
            FdType::PipeReader => type_name::<crate::PipeReader>(),
            FdType::PipeWriter => type_name::<crate::PipeWriter>(),
            FdType::TcpListener => type_name::<crate::TcpListener>(),
            FdType::TcpStream => type_name::<crate::TcpStream>(),
            FdType::UdpSocket => type_name::<crate::UdpSocket>(),
            FdType::UnixListener => type_name::<crate::UnixListener>(),
            FdType::UnixStream => type_name::<crate::UnixStream>(),
            FdType::IpcMutex => type_name::<crate::IpcMutex>(),
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
    fn counted<T: guard_core::CountedResource>(ty: FdType) {
        assert_eq!(
            (ty.kind(), ty.type_name()),
            (Kind::Counted, type_name::<T>())
        );
    }

    /// `ty` names `T`, and is unique: `T`'s own classification says so.
    fn unique<T: guard_core::UniqueResource>(ty: FdType) {
        assert_eq!(
            (ty.kind(), ty.type_name()),
            (Kind::Unique, type_name::<T>())
        );
    }

    #[test]
    fn every_tag_has_its_types_name_and_classification() {
        counted::<crate::Fd>(FdType::Fd);
        counted::<crate::ReadFile>(FdType::ReadFile);
        unique::<crate::WriteFile>(FdType::WriteFile);
        counted::<crate::PipeReader>(FdType::PipeReader);
        unique::<crate::PipeWriter>(FdType::PipeWriter);
        counted::<crate::TcpListener>(FdType::TcpListener);
        unique::<crate::TcpStream>(FdType::TcpStream);
        counted::<crate::UdpSocket>(FdType::UdpSocket);
        counted::<crate::UnixListener>(FdType::UnixListener);
        unique::<crate::UnixStream>(FdType::UnixStream);
        counted::<crate::IpcMutex>(FdType::IpcMutex);
        let o = FdType::PipeWriter.origin(Location::caller());
        assert_eq!(o.site().line(), line!() - 1);
        assert_eq!(std::mem::size_of::<FdType>(), 1);
    }
}
