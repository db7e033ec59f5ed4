//! The lock file of an [`IpcMutex`](crate::IpcMutex): its registered fd, its path, and the
//! owner record at its start (who holds the lock, whether the state is poisoned).

use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, retry_on_pressure};
use crate::sys;
use std::io;
use std::os::fd::AsFd;
use std::panic::Location;
use std::path::{Path, PathBuf};

const MAGIC: [u8; 8] = *b"guardmtx";
const RECORD: usize = 32;
pub(super) const FREE: u32 = 0;
pub(super) const HELD: u32 = 1;

/// The owner record at the start of the lock file. `poisoned` is set by a holder's death
/// (seen by the next acquirer) or by a holder's panic (recorded by its release).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) state: u32,
    pub(super) poisoned: bool,
    pub(super) holder: u32,
    pub(super) dead: u32,
    pub(super) generation: u64,
}

impl Record {
    /// The record in the first `len` bytes of the file (`b` holds them); `None` if the file
    /// is not a lock file: not empty, and not starting with a whole record. Only guard
    /// writes records, each whole with one 32-byte `pwrite` at offset 0, which a process's
    /// death does not split (and a file's size grows only once its bytes are in), so a
    /// short record is not ours either: both are refused, never overwritten.
    pub(super) fn decode(b: &[u8; RECORD], len: usize) -> Option<Record> {
        if len == 0 {
            return Some(Record::default()); // a new (empty) file
        }
        if len < RECORD || b[..8] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut g = [0; 8];
        g.copy_from_slice(&b[24..32]);
        Some(Record {
            state: u32_at(8),
            poisoned: u32_at(12) != 0,
            holder: u32_at(16),
            dead: u32_at(20),
            generation: u64::from_le_bytes(g),
        })
    }

    pub(super) fn encode(&self) -> [u8; RECORD] {
        let mut b = [0; RECORD];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.state.to_le_bytes());
        b[12..16].copy_from_slice(&u32::from(self.poisoned).to_le_bytes());
        b[16..20].copy_from_slice(&self.holder.to_le_bytes());
        b[20..24].copy_from_slice(&self.dead.to_le_bytes());
        b[24..32].copy_from_slice(&self.generation.to_le_bytes());
        b
    }
}

/// An open lock file: the fd (registered as owned by an [`IpcMutex`](crate::IpcMutex)) and
/// the path it was opened at.
pub(super) struct LockFile {
    pub(super) fd: Fd,
    pub(super) path: PathBuf,
}

impl LockFile {
    /// Opens (creating if needed, mode `0o600`, never through a symlink) the lock file at
    /// `path`, refusing a file that is not a lock file (see [`Record::decode`]).
    pub(super) fn open(path: PathBuf, site: &'static Location<'static>) -> Result<LockFile> {
        let owned =
            retry_on_pressure(|| sys::open_lock_file(&path)).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
        // Unlocked: the magic never changes once written, and a racing first write shows
        // the file empty or whole. `IpcLock::acquire` checks again, under the lock.
        read_record(&owned, &path)?;
        Ok(LockFile {
            fd: Fd::register(owned, FdOwner::IpcMutex, site),
            path,
        })
    }

    /// Reads the owner record (see [`read_record`]).
    pub(super) fn read_record(&self) -> Result<Record> {
        read_record(&self.fd, &self.path)
    }

    /// Writes the owner record, whole, at the start of the file.
    pub(super) fn write_record(&self, r: &Record) -> Result<()> {
        sys::pwrite_all(&self.fd, &r.encode(), 0)
            .map_err(|e| self.error("writing the owner record", e))
    }

    /// An [`Error::Lock`] for `op` on this file.
    pub(super) fn error(&self, op: &'static str, source: io::Error) -> Error {
        lock_error(op, &self.path, source)
    }
}

/// Reads the owner record of the lock file `path` open at `fd`, refusing a file that is
/// not a lock file (see [`Record::decode`]).
fn read_record(fd: impl AsFd, path: &Path) -> Result<Record> {
    let mut b = [0; RECORD];
    let mut got = 0;
    while got < RECORD {
        match sys::pread(&fd, &mut b[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(lock_error("reading the owner record", path, e)),
        }
    }
    Record::decode(&b, got).ok_or_else(|| {
        let why = "not a guard lock file: it is not empty and does not start with an owner \
                   record (left unchanged)";
        let source = io::Error::new(io::ErrorKind::InvalidData, why);
        lock_error("checking the owner record", path, source)
    })
}

fn lock_error(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Lock {
        op,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_record_round_trips_and_a_new_file_reads_as_free() {
        let r = Record {
            state: HELD,
            poisoned: true,
            holder: 42,
            dead: 7,
            generation: 9,
        };
        assert_eq!(Record::decode(&r.encode(), RECORD), Some(r));
        assert_eq!(Record::decode(&[0; RECORD], 0), Some(Record::default()));
        assert_eq!(Record::default().state, FREE);
    }

    #[test]
    fn anything_but_an_empty_file_or_a_whole_record_is_refused() {
        let whole = Record::default().encode();
        assert_eq!(Record::decode(&whole, RECORD), Some(Record::default()));
        assert_eq!(Record::decode(&whole, RECORD - 1), None, "a short record");
        assert_eq!(Record::decode(&whole, 8), None, "only the magic");
        assert_eq!(Record::decode(&[0; RECORD], RECORD), None, "zeros");
        let mut text = [b'x'; RECORD];
        text[..8].copy_from_slice(b"guardmtX");
        assert_eq!(Record::decode(&text, RECORD), None, "almost the magic");
    }
}
