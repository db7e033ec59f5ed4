//! A [`Child`]'s end: its release as a resource (unique in a scope, or counted on the
//! finalizer) and [`Child::wait_with_output`].

use super::child::Child;
use super::reaper;
use crate::error::{Error, Result};
use crate::pipe::PipeReader;
use crate::sys;
use guard_core::{CountedResource, Resource, UniqueResource};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};

impl Child {
    /// Closes the child's stdin (if piped and not taken: it sees EOF), waits for it to
    /// exit and returns its stdout and stderr (if piped and not taken: read to EOF, at
    /// once, so that neither pipe fills up) with its status. A non-success status is in
    /// the `Output`, not an error, as with std's `wait_with_output`.
    ///
    /// # Errors
    ///
    /// [`Error::Close`] (closing stdin), [`Error::Wait`] (waiting, or reading the pipes:
    /// the read's OS error). The child is waited for in every case but the last.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{Spawn, Stdio};
    /// let mut cmd = std::process::Command::new("/bin/sh");
    /// cmd.args(["-c", "echo out; echo err >&2; exit 2"]);
    /// let out = Spawn::from_command(&cmd)
    ///     .stdout(Stdio::Piped)
    ///     .stderr(Stdio::Piped)
    ///     .spawn()?
    ///     .wait_with_output()?;
    /// assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    /// assert_eq!(out.status.code(), Some(2));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn wait_with_output(mut self) -> Result<Output> {
        let output = self.collect_output();
        if output.is_err() {
            // The caller gave the child up to this call: an error here is returned, not
            // reported again as a child dropped unreleased.
            self.give_up_quietly();
        }
        output
    }

    /// `wait_with_output`'s steps; on an error the child is left as it stands.
    fn collect_output(&mut self) -> Result<Output> {
        if let Some(stdin) = self.stdin.take() {
            stdin.close()?;
        }
        let pid = self.pid;
        let read_all = |pipe: Option<PipeReader>| -> Result<Vec<u8>> {
            let mut got = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut got)
                    .map_err(|source| Error::Wait { pid, source })?;
            }
            Ok(got)
        };
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (stdout, stderr) = match (stdout, stderr) {
            (Some(out), Some(err)) => std::thread::scope(|s| {
                let err = s.spawn(|| read_all(Some(err)));
                let out = read_all(Some(out));
                let err = err.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                Ok::<_, Error>((out?, err?))
            })?,
            (out, err) => (read_all(out)?, read_all(err)?),
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// After a failed [`wait_with_output`](Child::wait_with_output): the child is killed if
    /// it was to be killed on release, reaped now if it has exited, else handed to the
    /// reaper; the drop that follows then reports nothing.
    fn give_up_quietly(&mut self) {
        if self.status.is_some() {
            return;
        }
        drop((self.stdin.take(), self.stdout.take(), self.stderr.take()));
        if self.kill_on_release.is_some() {
            let _ = self.kill();
        }
        if let Ok(None) = self.try_wait()
            && let Some(pidfd) = self.pidfd.take()
        {
            reaper::adopt(self.pid, pidfd);
        }
        // Reaped, handed over, or not ours to reap: nothing left for the drop to report.
        self.pidfd = None;
    }

    /// The release: see "As a resource" in [`Child`]'s docs.
    fn finish(&mut self) -> Result<()> {
        let mut errors = Vec::new();
        if let Some(stdin) = self.stdin.take()
            && let Err(e) = stdin.close()
        {
            errors.push(e);
        }
        // Nobody reads them any more: a child writing on gets EPIPE (or SIGPIPE) instead
        // of filling the pipe and never exiting.
        drop((self.stdout.take(), self.stderr.take()));
        let mut sent = [None; 2];
        if let Some((signal, grace)) = self.kill_on_release
            && let Ok(None) = self.try_wait()
        {
            match self.signal(signal) {
                Ok(()) => sent[0] = Some(signal),
                Err(e) => errors.push(e),
            }
            let exited = match &self.pidfd {
                Some(pidfd) => sys::spawn::exited_within(pidfd, grace).unwrap_or(false),
                None => true,
            };
            if !exited {
                match self.kill() {
                    Ok(()) => sent[1] = Some(libc::SIGKILL),
                    Err(e) => errors.push(e),
                }
            }
        }
        match self.wait() {
            Ok(status) if failed(status, &sent) => errors.push(Error::ChildFailed {
                program: self.program.clone(),
                pid: self.pid,
                status,
            }),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
        if let Some(pidfd) = self.pidfd.take()
            && let Err(e) = pidfd.close()
        {
            errors.push(e);
        }
        Error::collect(errors)
    }
}

/// A failure: an exit code other than 0, or a signal that is not one the release sent.
fn failed(status: ExitStatus, sent: &[Option<i32>]) -> bool {
    match status.signal() {
        Some(signal) => !sent.contains(&Some(signal)),
        None => !status.success(),
    }
}

impl Resource for Child {
    type Error = Error;

    /// Closes the child's stdin and its unread stdout and stderr, sends the signal of
    /// [`Spawn::kill_on_release`](crate::Spawn::kill_on_release) (if set and the child
    /// runs) and `SIGKILL` after its grace period, waits for the child, and closes its
    /// pidfd. A child that exited with a code other than 0, or was killed by a signal the
    /// release did not send, is an [`Error::ChildFailed`]; every error is returned
    /// ([`Error::Release`] if there are several).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = std::process::Command::new("/bin/sh");
    /// cmd.args(["-c", "exit 3"]);
    /// let err = guard_core::scope(|s| {
    ///     let _child = s.enter(guard_os::Spawn::from_command(&cmd).spawn()?);
    ///     Ok::<_, guard_os::Error>(())
    /// })
    /// .unwrap_err();
    /// let failure = err.releases()[0].error().downcast_ref::<guard_os::Error>().unwrap();
    /// assert!(matches!(failure, guard_os::Error::ChildFailed { status, .. } if status.code() == Some(3)));
    /// ```
    fn release(mut self) -> Result<()> {
        self.finish()
    }

    fn created(&self) -> Option<guard_core::Created> {
        crate::fd::created(self.pidfd.as_ref(), "spawned")
    }
}

impl UniqueResource for Child {}

/// In a [`Counted<Child>`](guard_core::Counted), the release runs on the finalizer: see
/// [`Child`]'s docs.
impl CountedResource for Child {}
