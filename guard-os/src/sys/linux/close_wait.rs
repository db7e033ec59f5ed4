//! Whether closing an fd can wait: `close(2)` returns at once for most fds, but waits for a
//! FUSE daemon's or an NFS server's answer to the flush of a file on such a file system,
//! for the peer to take a socket's unsent data under `SO_LINGER`, or for a terminal's
//! output to drain. guard-core runs the last drop of a counted fd on the dropping thread
//! only when its close cannot wait (`CountedResource::releases_without_waiting`); the
//! answer is computed once, when the fd is registered.

use rustix::fd::BorrowedFd;
use rustix::fs::FileType;

/// `f_type` of the local file systems whose close never waits for another process or a
/// server (`linux/magic.h`): ext2/3/4, xfs, btrfs, f2fs, tmpfs, ramfs, overlayfs,
/// squashfs, iso9660, vfat, exfat, proc, sysfs, cgroup2, devtmpfs' own tmpfs.
const LOCAL: [u64; 15] = [
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0xF2F5_2010, // f2fs
    0x0102_1994, // tmpfs (devtmpfs too)
    0x8584_58F6, // ramfs
    0x794C_7630, // overlayfs
    0x7371_7368, // squashfs
    0x9660,      // iso9660
    0x4D44,      // vfat
    0x2011_BAB0, // exfat
    0x9FA0,      // proc
    0x6265_6572, // sysfs
    0x6367_7270, // cgroup2
    0x6E73_6673, // nsfs
];

/// True if closing `fd` cannot wait for another process, a server or a timer: a pipe or
/// FIFO; a listening or datagram socket; a memory character device (`/dev/null`,
/// `/dev/zero`, `/dev/urandom`: major 1); a regular file or directory on a local file
/// system ([`LOCAL`]). False for everything else, and whenever a query fails: a connected
/// stream socket (`SO_LINGER` can be set on it at any time), a terminal, a file on FUSE,
/// NFS, CIFS or 9p. `fstat`, then `getsockopt` or `fstatfs`: on FUSE or NFS these ask the
/// daemon or the server, as the `open` that made the fd just did.
pub(crate) fn closes_without_waiting(fd: BorrowedFd<'_>) -> bool {
    let Ok(st) = rustix::fs::fstat(fd) else {
        return false;
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Fifo => true,
        FileType::Socket => {
            let sock = socket2::SockRef::from(&fd);
            sock.is_listener().unwrap_or(false)
                || sock.r#type().is_ok_and(|t| t == socket2::Type::DGRAM)
        }
        FileType::CharacterDevice => rustix::fs::major(st.st_rdev) == 1,
        FileType::RegularFile | FileType::Directory => on_local_fs(fd, st.st_dev),
        _ => false,
    }
}

/// Whether `fd` (a file or directory on device `dev`) is on a [`LOCAL`] file system:
/// `fstatfs`, remembered per device for block-device-backed file systems (a device number
/// with a major other than 0 names that device for as long as it is mounted; `fuseblk`
/// has one too, and is remembered as not local). Anonymous device numbers (major 0:
/// tmpfs, overlayfs, btrfs, FUSE, NFS) are reused once unmounted, so they are asked each
/// time.
fn on_local_fs(fd: BorrowedFd<'_>, dev: u64) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    /// Remembered devices: `dev << 1 | local`, 0 for an empty slot.
    static SEEN: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
    let cacheable = rustix::fs::major(dev) != 0 && dev < 1 << 63;
    if cacheable {
        for slot in &SEEN {
            let seen = slot.load(Ordering::Relaxed);
            if seen == 0 {
                break;
            }
            if seen >> 1 == dev {
                return seen & 1 == 1;
            }
        }
    }
    let local = rustix::fs::fstatfs(fd).is_ok_and(|fs| LOCAL.contains(&(fs.f_type as u64)));
    if cacheable {
        let entry = dev << 1 | u64::from(local);
        // The first empty slot; a full table remembers nothing more.
        for slot in &SEEN {
            match slot.compare_exchange(0, entry, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) if seen >> 1 == dev => break,
                Err(_) => {}
            }
        }
    }
    local
}

#[cfg(test)]
mod tests {
    use super::closes_without_waiting;
    use std::os::fd::AsFd;

    #[test]
    fn what_closes_at_once_and_what_may_wait() {
        let null = std::fs::File::open("/dev/null").unwrap();
        assert!(closes_without_waiting(null.as_fd()), "/dev/null");
        let dir = std::fs::File::open("/proc/self").unwrap();
        assert!(closes_without_waiting(dir.as_fd()), "a directory on proc");
        let (r, w) = std::io::pipe().unwrap();
        assert!(closes_without_waiting(r.as_fd()) && closes_without_waiting(w.as_fd()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(closes_without_waiting(listener.as_fd()), "a listener");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(closes_without_waiting(udp.as_fd()), "a datagram socket");
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(
            !closes_without_waiting(stream.as_fd()),
            "a connected stream: SO_LINGER may be set on it"
        );
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(
            !closes_without_waiting(a.as_fd()),
            "a connected unix stream"
        );
    }

    #[test]
    fn a_remembered_device_answers_as_fstatfs_does() {
        let path = std::env::temp_dir().join(format!("guard-close-wait.{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let asked =
            rustix::fs::fstatfs(&file).is_ok_and(|fs| super::LOCAL.contains(&(fs.f_type as u64)));
        // The first answer may fill the cache, the next ones may come from it: all agree.
        for _ in 0..3 {
            assert_eq!(
                closes_without_waiting(file.as_fd()),
                asked,
                "{}",
                path.display()
            );
        }
        std::fs::remove_file(&path).unwrap();
    }
}
