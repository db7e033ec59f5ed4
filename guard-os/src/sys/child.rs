//! Calls a child makes between `fork` and `exec` (invariant R4): raw syscalls only, no
//! allocation, no lock, nothing that is not async-signal-safe. Errors are plain `io::Error`
//! built from an errno (no allocation).
//!
//! These functions take fd numbers, and call libc with them directly: they never make a
//! `BorrowedFd` or `OwnedFd` for a number, since some of the numbers (the sweep's, a
//! target's) may not be open, which those types' invariants forbid. They change every fd
//! of the calling process, which is sound only in a child that is about to `exec`: hence
//! `unsafe`.

use super::unix::child_fds::{cloexec_sweep, set_cloexec, stat};
pub(crate) use super::unix::child_fds::{dup_above, identity, nofile_limit, place};
use rustix::fd::RawFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::io;
use std::mem::MaybeUninit;

fn err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// How a child marks every fd from some number on close-on-exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cloexec {
    /// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)` (Linux 5.11+), falling back to
    /// [`Cloexec::ProcFd`] where the kernel lacks it.
    CloseRange,
    /// `getdents64` over `/proc/self/fd` and `F_SETFD` on each, falling back to
    /// [`Cloexec::Sweep`] where `/proc` is not mounted.
    ProcFd,
    /// `F_SETFD` on every number below `RLIMIT_NOFILE`.
    Sweep,
}

/// Marks every fd numbered `first` or above close-on-exec, by `how` (and its fallbacks).
///
/// # Safety
///
/// Only in a child between `fork` and `exec`: it changes fds the caller does not own.
pub(crate) unsafe fn cloexec_from(first: RawFd, how: Cloexec) -> io::Result<()> {
    let first_u = u32::try_from(first).unwrap_or(0);
    if how == Cloexec::CloseRange {
        // SAFETY: `close_range` takes plain integers; with CLOSE_RANGE_CLOEXEC it closes
        // nothing, it only sets FD_CLOEXEC on [first, ~0]. The caller is a child about to
        // exec (contract), so no owner of those fds is affected.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first_u,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // ENOSYS: kernel before 5.11; EINVAL: no CLOSE_RANGE_CLOEXEC; EPERM: a seccomp filter.
        if !matches!(
            e.raw_os_error(),
            Some(libc::ENOSYS | libc::EINVAL | libc::EPERM)
        ) {
            return Err(e);
        }
    }
    if how != Cloexec::Sweep {
        // SAFETY: forwarded contract.
        match unsafe { cloexec_via_proc(first) } {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: forwarded contract.
    unsafe { cloexec_sweep(first) }
}

/// # Safety
///
/// As [`cloexec_from`].
unsafe fn cloexec_via_proc(first: RawFd) -> io::Result<()> {
    let dir = rustix::fs::open(
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(err)?;
    let own = {
        use std::os::fd::AsRawFd;
        dir.as_raw_fd()
    };
    // On the stack: no allocation in the child.
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(err)?;
        if let Some(n) = parse_fd(entry.file_name().to_bytes())
            && n >= first
            && n != own
        {
            // SAFETY: forwarded contract.
            unsafe { set_cloexec(n) }?;
        }
    }
    Ok(())
}

/// Whether fd `raw` may be, in the child of a `Command`'s `spawn` (which runs the hooks),
/// std's own exec-error channel: an `AF_UNIX` `SOCK_SEQPACKET` socket (std's
/// `socketpair`, which also carries a pidfd) whose peer is open nowhere in this process
/// and has not shut the connection down. std closes its end of the pair (`input`) in the
/// child before the hooks run, and keeps it open in the parent (reading it until the exec),
/// so the peer is gone from the child's table and alive. Not so, and overwritten like any
/// other fd: another thread's spawn channel copied in at the `fork` with both ends, or
/// the read end of one whose child has exec'd (its peer released: the kernel marks the
/// read end shut down). One case stays ambiguous and is refused: another thread's read
/// end while its child is still between `fork` and `exec`.
///
/// The peer and the shutdown state are asked of the kernel with one `sock_diag` netlink
/// request (`UNIX_DIAG_PEER`, the inode `ss -x` shows, and `UNIX_DIAG_SHUTDOWN`), then the
/// peer is looked for among this process's fds (`/proc/self/fd`). Where either cannot be
/// asked (no `/proc`, a kernel without `unix_diag`, a sandbox), it answers `true`:
/// refusing (`EBUSY`) is safe, overwriting std's channel is not. Raw syscalls into
/// buffers on the stack, no allocation, no lock: async-signal-safe. It opens two fds
/// (close-on-exec, closed before it returns) at the lowest free numbers, which hold no fd
/// of the plan's yet.
pub(crate) fn like_std_error_pipe(raw: RawFd) -> bool {
    let Some(st) = stat(raw) else { return false };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK
        || socket_option(raw, libc::SO_DOMAIN) != Some(libc::AF_UNIX)
        || socket_option(raw, libc::SO_TYPE) != Some(libc::SOCK_SEQPACKET)
    {
        return false;
    }
    let Some(diag) = unix_diag(st.st_ino) else {
        return true;
    };
    if diag.shut_down {
        return false;
    }
    let Some(peer) = diag.peer else { return true };
    !matches!(socket_open_here(st.st_dev, peer, raw), Some(true))
}

/// `getsockopt(SOL_SOCKET, name)` of fd number `raw` as an integer, `None` if it fails.
fn socket_option(raw: RawFd, name: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `getsockopt` takes a plain integer and writes at most `len` bytes into
    // `value`, which has room for them.
    let r = unsafe {
        libc::getsockopt(
            raw,
            libc::SOL_SOCKET,
            name,
            (&raw mut value).cast::<libc::c_void>(),
            &raw mut len,
        )
    };
    (r == 0).then_some(value)
}

/// `SOCK_DIAG_BY_FAMILY` (`linux/sock_diag.h`).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `UDIAG_SHOW_PEER`, `UNIX_DIAG_PEER` and `UNIX_DIAG_SHUTDOWN` (`linux/unix_diag.h`).
const UDIAG_SHOW_PEER: u32 = 0x4;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_SHUTDOWN: u16 = 6;

/// What the kernel's `sock_diag` says of one `AF_UNIX` socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UnixDiag {
    /// Its peer's inode, if it has a peer.
    peer: Option<u32>,
    /// Whether it is shut down in either direction (`sk_shutdown`; for a `SOCK_SEQPACKET`
    /// pair, set on one end when the other is released).
    shut_down: bool,
}

/// What the kernel says of the `AF_UNIX` socket with inode `ino`, from `sock_diag`
/// (`NETLINK_SOCK_DIAG`, one request for that inode, `UDIAG_SHOW_PEER`). `None` if the
/// kernel cannot say (no `unix_diag`, a sandbox's seccomp filter). The reply is queued
/// while `send` runs (the kernel answers in the sender's context), and read without
/// waiting: this never blocks.
fn unix_diag(ino: libc::ino_t) -> Option<UnixDiag> {
    let ino = u32::try_from(ino).ok()?; // unix_diag_req.udiag_ino is 32 bits wide
    // SAFETY: `socket` takes plain integers; the fd it returns is closed below.
    let nl = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if nl < 0 {
        return None;
    }
    // nlmsghdr (16 bytes) then unix_diag_req (24): family, protocol, pad, states, ino,
    // show, cookie (none: all ones), native byte order.
    let mut req = [0u8; 40];
    req[0..4].copy_from_slice(&40u32.to_ne_bytes());
    req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[16] = libc::AF_UNIX as u8;
    req[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
    req[24..28].copy_from_slice(&ino.to_ne_bytes());
    req[28..32].copy_from_slice(&UDIAG_SHOW_PEER.to_ne_bytes());
    req[32..40].copy_from_slice(&[0xff; 8]);
    let mut reply = [0u8; 512];
    // SAFETY: `nl` is the socket made above; `send` reads `req.len()` bytes of `req`,
    // `recv` writes at most `reply.len()` bytes into `reply`; an unconnected netlink
    // socket sends to the kernel.
    let got = unsafe {
        if libc::send(nl, req.as_ptr().cast(), req.len(), 0) != req.len() as isize {
            -1
        } else {
            libc::recv(
                nl,
                reply.as_mut_ptr().cast(),
                reply.len(),
                libc::MSG_DONTWAIT,
            )
        }
    };
    // SAFETY: `nl` is ours, closed once.
    unsafe { libc::close(nl) };
    let reply = reply.get(..usize::try_from(got).ok()?)?;
    parse_unix_diag(reply, ino)
}

/// A `sock_diag` reply about the socket with inode `ino`: one `nlmsghdr` of type
/// `SOCK_DIAG_BY_FAMILY`, a `unix_diag_msg` (16 bytes, the inode at 4..8), then attributes
/// (`u16` length, `u16` type, payload, padded to 4). `None` for an error reply, another
/// inode, or no `UNIX_DIAG_SHUTDOWN` (which the kernel always sends). Bounds-checked: no
/// panic on any input.
fn parse_unix_diag(reply: &[u8], ino: u32) -> Option<UnixDiag> {
    let u16_at = |at: usize| Some(u16::from_ne_bytes(reply.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_ne_bytes(reply.get(at..at + 4)?.try_into().ok()?));
    let len = usize::try_from(u32_at(0)?).ok()?.min(reply.len());
    if u16_at(4)? != SOCK_DIAG_BY_FAMILY || u32_at(16 + 4)? != ino {
        return None;
    }
    let (mut peer, mut shut_down) = (None, None);
    let mut at = 16 + 16;
    while at + 4 <= len {
        let attr_len = usize::from(u16_at(at)?);
        if attr_len < 4 || at + attr_len > len {
            return None;
        }
        match u16_at(at + 2)? {
            UNIX_DIAG_PEER if attr_len >= 8 => peer = Some(u32_at(at + 4)?),
            UNIX_DIAG_SHUTDOWN if attr_len >= 5 => shut_down = Some(*reply.get(at + 4)? != 0),
            _ => {}
        }
        at += (attr_len + 3) & !3;
    }
    Some(UnixDiag {
        peer,
        shut_down: shut_down?,
    })
}

/// Whether a socket with inode `ino` on device `dev` is open in this process at a number
/// other than `except`, from `/proc/self/fd` (`None` if it cannot be listed).
fn socket_open_here(dev: libc::dev_t, ino: u32, except: RawFd) -> Option<bool> {
    let dir = rustix::fs::open(
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let own = {
        use std::os::fd::AsRawFd;
        dir.as_raw_fd()
    };
    // On the stack: no allocation in the child.
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry.ok()?;
        let Some(n) = parse_fd(entry.file_name().to_bytes()) else {
            continue;
        };
        if n == own || n == except {
            continue;
        }
        if let Some(st) = stat(n)
            && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
            && st.st_dev == dev
            && st.st_ino == libc::ino_t::from(ino)
        {
            return Some(true);
        }
    }
    Some(false)
}

/// A decimal fd number, without allocating; `None` for `.`/`..` and anything else.
fn parse_fd(name: &[u8]) -> Option<RawFd> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    RawFd::try_from(n).ok()
}

/// In the child: its own pid (`getpid(2)`, a raw syscall), in decimal, NUL-terminated,
/// into the `len` bytes at `ptr` (nothing if they cannot hold it). No allocation, no
/// lock: async-signal-safe.
///
/// # Safety
///
/// `ptr` points to `len` writable bytes that nothing else reads or writes meanwhile.
pub(super) unsafe fn write_pid(ptr: *mut u8, len: usize) {
    // SAFETY: `getpid` has no preconditions; the raw syscall, since a libc may cache the
    // parent's pid in memory this child shares.
    let pid = unsafe { libc::syscall(libc::SYS_getpid) };
    let mut digits = [0u8; 20];
    let text = format_decimal(u64::try_from(pid).unwrap_or(0), &mut digits);
    if text.len() < len {
        // SAFETY: `slot` is `len` writable bytes that nothing else touches (the
        // contract); `text.len() + 1 <= len`.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), ptr, text.len());
            ptr.add(text.len()).write(0);
        }
    }
}

/// `n` in decimal, in the tail of `buf`, without allocating.
fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// In the child: every caught signal back to its default action, and SIGPIPE too (Rust
/// programs ignore it; std's children get the default).
///
/// # Safety
///
/// Only in a child with a signal handler table of its own (no `CLONE_SIGHAND`), before
/// `exec`: in any other process it would remove that process's handlers.
pub(super) unsafe fn reset_signal_handlers() {
    for sig in 1..65 {
        // SAFETY: a zeroed `sigaction` is a valid value to be overwritten.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `sigaction` reads nothing (null) and writes `old`; it fails harmlessly
        // (EINVAL) for numbers it does not allow.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &raw mut old) } != 0 {
            continue;
        }
        let caught = old.sa_sigaction != libc::SIG_IGN && old.sa_sigaction != libc::SIG_DFL;
        if caught || (sig == libc::SIGPIPE && old.sa_sigaction == libc::SIG_IGN) {
            // SAFETY: as above.
            let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            // SAFETY: this child has its own handler table (no CLONE_SIGHAND): the
            // parent's handlers are untouched.
            unsafe { libc::sigaction(sig, &raw const dfl, std::ptr::null_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        UnixDiag, format_decimal, like_std_error_pipe, parse_fd, parse_unix_diag, stat, unix_diag,
    };
    use guard_testkit::seqpacket_pair;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn parses_fd_names() {
        assert_eq!(parse_fd(b"17"), Some(17));
        assert_eq!(parse_fd(b"."), None);
        assert_eq!(parse_fd(b".."), None);
        assert_eq!(parse_fd(b"99999999999"), None);
    }

    #[test]
    fn formats_pids_without_allocating() {
        let mut buf = [0; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(4_194_304, &mut buf), b"4194304");
        assert_eq!(format_decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }

    #[test]
    fn a_seqpacket_socket_is_std_channel_only_when_its_peer_is_alive_elsewhere() {
        let (input, output) = seqpacket_pair();
        assert!(
            !like_std_error_pipe(output.as_raw_fd()),
            "its peer is open here: another thread's channel, to be overwritten"
        );
        // The peer alive in another process only, as std's `input` is in the parent.
        let mut holder = std::process::Command::new("/bin/sleep")
            .arg("60")
            .stdin(std::process::Stdio::from(input))
            .spawn()
            .unwrap();
        assert!(
            like_std_error_pipe(output.as_raw_fd()),
            "its peer is alive, not here: maybe the spawn's own channel"
        );
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(
            !like_std_error_pipe(output.as_raw_fd()),
            "its peer was released: the read end of a channel whose child has exec'd"
        );
    }

    #[test]
    fn other_fds_are_not_std_channel() {
        let (a, _b) = UnixDatagram::pair().unwrap();
        assert!(!like_std_error_pipe(a.as_raw_fd()), "a datagram socket");
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(!like_std_error_pipe(file.as_raw_fd()), "a file");
        let closed = {
            let f = std::fs::File::open("/dev/null").unwrap();
            f.as_raw_fd()
        };
        if stat(closed).is_none() {
            assert!(!like_std_error_pipe(closed), "a closed number");
        }
    }

    #[test]
    fn diag_replies_are_parsed_without_panicking() {
        // A real reply: 16-byte header, unix_diag_msg, UNIX_DIAG_PEER (2), UNIX_DIAG_SHUTDOWN (6).
        let mut reply = Vec::new();
        reply.extend_from_slice(&45u32.to_ne_bytes());
        reply.extend_from_slice(&20u16.to_ne_bytes());
        reply.extend_from_slice(&[0; 10]);
        reply.extend_from_slice(&[1, 5, 0, 0]);
        reply.extend_from_slice(&7u32.to_ne_bytes());
        reply.extend_from_slice(&[0; 8]);
        reply.extend_from_slice(&8u16.to_ne_bytes());
        reply.extend_from_slice(&2u16.to_ne_bytes());
        reply.extend_from_slice(&6u32.to_ne_bytes());
        reply.extend_from_slice(&5u16.to_ne_bytes());
        reply.extend_from_slice(&6u16.to_ne_bytes());
        reply.push(3);
        let diag = |peer, shut_down| Some(UnixDiag { peer, shut_down });
        assert_eq!(parse_unix_diag(&reply, 7), diag(Some(6), true));
        assert_eq!(parse_unix_diag(&reply, 8), None, "about another inode");
        for cut in 0..reply.len() {
            assert_eq!(parse_unix_diag(&reply[..cut], 7), None, "cut at {cut}");
        }
        let mut open = reply.clone();
        open[44] = 0;
        assert_eq!(parse_unix_diag(&open, 7), diag(Some(6), false));
        let mut no_peer = reply.clone();
        no_peer[34..36].copy_from_slice(&99u16.to_ne_bytes());
        assert_eq!(parse_unix_diag(&no_peer, 7), diag(None, true));
        let mut zero_length = reply.clone();
        zero_length[32..34].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(
            parse_unix_diag(&zero_length, 7),
            None,
            "a zero-length attribute"
        );
        let mut error = reply;
        error[4..6].copy_from_slice(&2u16.to_ne_bytes());
        assert_eq!(parse_unix_diag(&error, 7), None, "NLMSG_ERROR");
    }

    #[test]
    fn the_kernel_answers_for_a_pair() {
        let (input, output) = seqpacket_pair();
        let ino = |fd: &std::os::fd::OwnedFd| stat(fd.as_raw_fd()).unwrap().st_ino;
        let Some(diag) = unix_diag(ino(&output)) else {
            eprintln!("no unix_diag here: like_std_error_pipe refuses (checked above)");
            return;
        };
        assert_eq!(diag.peer.map(libc::ino_t::from), Some(ino(&input)));
        assert!(!diag.shut_down);
        drop(output);
        assert!(
            unix_diag(ino(&input)).unwrap().shut_down,
            "its peer was released"
        );
    }
}
