//! Which fds a plan can pass: [`Registered`] (every guard-os fd type but the OS mutex) and
//! its object-safe view [`ListenFd`].

use crate::fd::Fd;
use guard_core::registry::Key;
use std::os::fd::AsFd;

mod sealed {
    pub trait Sealed {}
}

/// An fd the registry knows: every guard-os fd type. [`Inherit`](crate::Inherit) leases it
/// for the spawn.
///
/// Not [`IpcMutex`](crate::IpcMutex): a child holding the handle's open file description
/// would share the parent's `flock`, so the mutex would no longer exclude them.
///
/// # Examples
///
/// ```
/// fn pass(cmd: &mut std::process::Command, fd: &impl guard_os::Registered) -> guard_os::Result<()> {
///     use guard_os::CommandExt;
///     cmd.inherit(guard_os::Inherit::new().keep(fd))?;
///     Ok(())
/// }
/// pass(&mut std::process::Command::new("/bin/true"), &guard_os::ReadFile::open("/dev/null")?)?;
/// # Ok::<(), guard_os::Error>(())
/// ```
pub trait Registered: AsFd + sealed::Sealed {
    /// Its registry key.
    #[doc(hidden)]
    fn registry_key(&self) -> Key;
}

macro_rules! registered {
    ($($ty:ty => |$s:ident| $fd:expr;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl Registered for $ty {
            fn registry_key(&self) -> Key {
                let $s = self;
                $fd.key()
            }
        }
    )*};
}

registered! {
    Fd => |s| s;
    crate::ReadFile => |s| s.registered_fd();
    crate::WriteFile => |s| s.registered_fd();
    crate::PipeReader => |s| s.registered_fd();
    crate::PipeWriter => |s| s.registered_fd();
    crate::TcpListener => |s| s.registered_fd();
    crate::TcpStream => |s| s.registered_fd();
    crate::UdpSocket => |s| s.registered_fd();
    crate::UnixListener => |s| s.registered_fd();
    crate::UnixStream => |s| s.registered_fd();
}

/// An fd that can be passed with [`Inherit::listen_fds`](crate::Inherit::listen_fds)
/// (the object-safe view of [`Registered`], to mix types in one slice).
///
/// # Examples
///
/// ```
/// let l = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let u = guard_os::UdpSocket::bind("127.0.0.1:0")?;
/// let mixed: [&dyn guard_os::ListenFd; 2] = [&l, &u];
/// # let _ = guard_os::Inherit::new().listen_fds(&mixed);
/// # Ok::<(), guard_os::Error>(())
/// ```
pub trait ListenFd: AsFd + sealed::Sealed {
    /// Its registry key.
    #[doc(hidden)]
    fn key(&self) -> Key;
}

impl<T: Registered> ListenFd for T {
    fn key(&self) -> Key {
        self.registry_key()
    }
}
