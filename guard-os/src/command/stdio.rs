//! [`Stdio`]: what a child started by [`Spawn`](crate::Spawn) gets as stdin, stdout and
//! stderr, and the fds the parent makes for it at each spawn.

use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, retry_on_pressure};
use crate::pipe::{PipeReader, PipeWriter};
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::Location;
use std::path::Path;

/// What a child started by [`Spawn`](crate::Spawn) gets as its stdin, stdout or stderr
/// ([`Spawn::stdin`](crate::Spawn::stdin), [`stdout`](crate::Spawn::stdout),
/// [`stderr`](crate::Spawn::stderr)).
///
/// # Examples
///
/// ```
/// use guard_os::{Spawn, Stdio};
/// use std::io::Read;
/// let mut cmd = std::process::Command::new("/bin/echo");
/// cmd.arg("hi");
/// let mut child = Spawn::from_command(&cmd).stdout(Stdio::Piped).spawn()?;
/// let mut got = String::new();
/// child.take_stdout().unwrap().read_to_string(&mut got)?;
/// assert_eq!(got, "hi\n");
/// assert!(child.wait()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stdio {
    /// This process's fd of that number (or what [`Inherit::keep_as_stdio`](crate::Inherit::keep_as_stdio)
    /// puts there).
    #[default]
    Inherit,
    /// `/dev/null`, opened for reading and writing.
    Null,
    /// A guard pipe: the parent's end is taken from the [`Child`](crate::Child), a
    /// [`PipeWriter`] for stdin, a [`PipeReader`] for stdout and stderr.
    Piped,
}

/// The fds of one spawn's stdio: the child's ends with their numbers (the parent closes
/// its copies once the child has exec'd), and the parent's ends.
#[derive(Debug, Default)]
pub(super) struct StdioFds {
    pub(super) child_ends: Vec<(OwnedFd, RawFd)>,
    pub(super) stdin: Option<PipeWriter>,
    pub(super) stdout: Option<PipeReader>,
    pub(super) stderr: Option<PipeReader>,
}

impl StdioFds {
    /// (source, target) of each child end, for the child's plan.
    pub(super) fn moves(&self) -> impl Iterator<Item = (RawFd, RawFd)> + '_ {
        self.child_ends.iter().map(|(fd, t)| (fd.as_raw_fd(), *t))
    }
}

/// Makes the fds `settings` (stdin, stdout, stderr) ask for; the parent's ends are
/// registered as created at `site`.
pub(super) fn open(settings: [Stdio; 3], site: &'static Location<'static>) -> Result<StdioFds> {
    let mut fds = StdioFds::default();
    for (target, how) in (0..).zip(settings) {
        match how {
            Stdio::Inherit => {}
            Stdio::Null => {
                let null = Path::new("/dev/null");
                let open = || {
                    let f = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(null)?;
                    Ok(OwnedFd::from(f)) // std opens with O_CLOEXEC
                };
                let fd = retry_on_pressure(open).map_err(|source| Error::Open {
                    path: null.into(),
                    source,
                })?;
                fds.child_ends.push((fd, target));
            }
            Stdio::Piped => {
                let (r, w) =
                    retry_on_pressure(sys::pipe).map_err(|source| Error::Pipe { source })?;
                if target == 0 {
                    fds.child_ends.push((r, 0));
                    let w = Fd::register(w, FdOwner::PipeWriter, site);
                    fds.stdin = Some(PipeWriter::from_registered(w));
                } else {
                    fds.child_ends.push((w, target));
                    let r = PipeReader::from_registered(Fd::register(r, FdOwner::PipeReader, site));
                    if target == 1 {
                        fds.stdout = Some(r);
                    } else {
                        fds.stderr = Some(r);
                    }
                }
            }
        }
    }
    Ok(fds)
}
