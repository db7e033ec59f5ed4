//! Releases on the dropping thread (`CountedResource::RELEASE_TAKES_NO_LOCK`): an isolated
//! last drop of a counted fd, with nothing of its thread pending, closes the fd before
//! `drop` returns, as `std` does; a drop behind pending releases of its thread waits its
//! turn on the finalizer; a failing inline close is reported by the finalizer (the hook
//! never runs on the dropping thread); a type that keeps
//! the default is never released on the dropping thread; a drop inside a `for_each` visit
//! of the very fd still waits for the visit to end.
//!
//! Each test body runs on a fresh thread (the watchdog's), whose lane is new: out of the
//! finalizer's care with nothing pushed. A drop still goes to the finalizer when the
//! finalizer holds its list of lanes at that moment (a drop never waits for it: a pass, or
//! the linger after the previous test's flush); [`until_inline`] then tries again once the
//! finalizer has run it, without timing anything. Tests are serialised: they look at fd
//! numbers and set the process-wide event hook.

// Linux only: guard-os classifies which closes cannot wait there only (macOS and FreeBSD
// send every counted fd to the finalizer), and the FUSE test mounts through /dev/fuse.
#![cfg(target_os = "linux")]

use guard::os::{ReadFile, fds};
use guard::{Counted, CountedResource, Resource, finalizer};
use guard_testkit::{fd_target, serial, watchdog};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A counted `/dev/null` reader and its fd number.
fn null_file() -> (Counted<ReadFile>, i32) {
    let file = Counted::new(ReadFile::open("/dev/null").expect("open /dev/null"));
    let n = file.as_raw_fd();
    (file, n)
}

fn is_open_null(n: i32) -> bool {
    fd_target(n).as_deref() == Some("/dev/null")
}

/// Runs `attempt` (which drops one last handle of a counted fd) until its drop is released
/// inline (`Stats::inline_idle` says so), and returns what that attempt returned, with the
/// stats from just before it. Between attempts, waits for the finalizer to release the
/// drop and go back to sleep (the lane out of its care again). Never ends on code that
/// does not release inline: the watchdog fails the test then.
fn until_inline<T>(mut attempt: impl FnMut() -> T) -> (T, finalizer::Stats) {
    loop {
        let before = finalizer::stats();
        let out = attempt();
        if finalizer::stats().inline_idle > before.inline_idle {
            return (out, before);
        }
        finalizer::flush().unwrap();
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_isolated_drop_closes_the_fd_before_drop_returns() {
    let _s = serial();
    finalizer::flush().unwrap();
    watchdog(LIMIT, || {
        let ((n, closed, after), before) = until_inline(|| {
            let (file, n) = null_file();
            let other = file.clone();
            drop(file);
            assert!(is_open_null(n), "another handle keeps fd {n} open");
            drop(other);
            (n, fd_target(n).is_none(), finalizer::stats())
        });
        assert!(closed, "fd {n} still open after its last drop");
        assert_eq!(after.inline_idle, before.inline_idle + 1, "{after}");
        assert_eq!(after.enqueued, before.enqueued + 1, "{after}");
        assert_eq!(after.released, before.released + 1, "{after}");
        assert_eq!(after.pending, 0, "{after}");
    });
}

#[test]
fn a_drop_after_the_finalizer_slept_again_closes_inline() {
    let _s = serial();
    finalizer::flush().unwrap();
    watchdog(LIMIT, || {
        // This thread's lane goes into the finalizer's care with a queued release, and out
        // of it once the finalizer has run it and gone to sleep: from then on a drop closes
        // inline.
        drop(Counted::new(guard_testkit::Blocker(Duration::from_millis(
            1,
        ))));
        finalizer::flush().unwrap();
        let ((n, closed), _) = until_inline(|| {
            let (file, n) = null_file();
            drop(file);
            (n, fd_target(n).is_none())
        });
        assert!(closed, "fd {n} released inline but still open");
    });
}

/// A gate the test opens: a release waits at it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    turn: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.turn.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.turn.notify_all();
    }
}

/// A counted value whose release waits at a gate, then notes whether fd `watch` was
/// still open when it finished.
struct Slow {
    gate: Arc<Gate>,
    watch: Arc<Mutex<Option<i32>>>,
    saw_open: Arc<AtomicBool>,
}

impl Resource for Slow {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        self.gate.wait();
        let n = self
            .watch
            .lock()
            .unwrap()
            .expect("the fd is dropped before the gate opens");
        self.saw_open.store(is_open_null(n), Ordering::SeqCst);
        Ok(())
    }
}
impl CountedResource for Slow {}

#[test]
fn a_drop_behind_a_pending_release_of_its_thread_keeps_its_order() {
    let _s = serial();
    finalizer::flush().unwrap();
    watchdog(LIMIT, || {
        let gate = Arc::new(Gate::default());
        let watch = Arc::new(Mutex::new(None));
        let saw_open = Arc::new(AtomicBool::new(false));
        drop(Counted::new(Slow {
            gate: Arc::clone(&gate),
            watch: Arc::clone(&watch),
            saw_open: Arc::clone(&saw_open),
        }));
        let (file, n) = null_file();
        *watch.lock().unwrap() = Some(n);
        drop(file);
        let open_after_drop = is_open_null(n);
        gate.open();
        finalizer::flush().unwrap();
        assert!(
            open_after_drop,
            "fd {n} closed before the release dropped first"
        );
        assert!(
            saw_open.load(Ordering::SeqCst),
            "fd {n} closed before the release dropped first finished"
        );
        assert_eq!(fd_target(n), None, "fd {n} never closed");
    });
}

#[test]
fn a_failing_inline_close_is_reported_by_the_finalizer_not_the_dropping_thread() {
    let _s = serial();
    finalizer::flush().unwrap();
    let seen: Arc<Mutex<Vec<(String, ThreadId)>>> = Arc::default();
    let log = Arc::clone(&seen);
    guard::event::set_hook(move |event| {
        if let guard::event::Event::ReleaseFailed {
            resource, error, ..
        } = event
        {
            log.lock()
                .unwrap()
                .push((format!("{resource}: {error}"), thread::current().id()));
        }
    });
    let failed = watchdog(LIMIT, move || {
        let ((n, after_drop), before) = until_inline(|| {
            seen.lock().unwrap().clear();
            let (file, n) = null_file();
            // SAFETY: breaks the I/O safety of the registered fd `n` on purpose, so that its
            // owner's close fails with EBADF; the tests are serialised and this thread opens
            // nothing before the drop, so the freed number is not reused meanwhile.
            assert_eq!(unsafe { libc::close(n) }, 0, "fd {n} was open");
            drop(file);
            // The report may already be in (the finalizer, woken by its job, can be quicker
            // than this thread): where it ran is checked below, by thread.
            (n, finalizer::stats())
        });
        finalizer::flush().unwrap();
        let seen = seen.lock().unwrap().clone();
        (n, after_drop, seen, thread::current().id(), before)
    });
    guard::event::reset_hook();
    let (n, after_drop, seen, me, before) = failed;
    assert_eq!(seen.len(), 1, "one failure reported once flushed: {seen:?}");
    assert!(seen[0].0.contains("ReadFile"), "{seen:?}");
    assert!(seen[0].0.contains(&n.to_string()), "names the fd: {seen:?}");
    assert_ne!(seen[0].1, me, "reported on the dropping thread: {seen:?}");
    assert_eq!(
        after_drop.inline_idle,
        before.inline_idle + 1,
        "{after_drop}"
    );
    let after = finalizer::stats();
    assert_eq!(after.failed, before.failed + 1, "{after}");
}

/// Regression: the first version of the inline release called the event hook (user code)
/// on the dropping thread; a thread holding the lock its hook takes then deadlocked when a
/// counted fd's inline close failed: Tratt's deadlock through the hook. The report goes
/// through the finalizer now.
#[test]
fn a_thread_holding_the_hooks_lock_drops_a_failing_counted_fd_without_deadlock() {
    let _s = serial();
    finalizer::flush().unwrap();
    let journal: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook_journal = Arc::clone(&journal);
    guard::event::set_hook(move |event| {
        if let guard::event::Event::ReleaseFailed { resource, .. } = event {
            hook_journal.lock().unwrap().push((*resource).to_owned());
        }
    });
    let journal_in = Arc::clone(&journal);
    let ((), before) = watchdog(LIMIT, move || {
        until_inline(|| {
            let (file, n) = null_file();
            // SAFETY: as in the test above: the registered fd's close fails with EBADF.
            assert_eq!(unsafe { libc::close(n) }, 0, "fd {n} was open");
            let held = journal_in.lock().unwrap();
            drop(file);
            drop(held);
        })
    });
    finalizer::flush().unwrap();
    guard::event::reset_hook();
    let reported = journal.lock().unwrap().clone();
    assert!(
        reported.iter().any(|r| r.contains("ReadFile")),
        "the failure was reported once the lock was free: {reported:?}"
    );
    assert!(finalizer::stats().failed > before.failed);
}

/// A counted value that keeps the default: it records the thread that released it.
struct Recorded(Arc<Mutex<Option<ThreadId>>>);

impl Resource for Recorded {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        *self.0.lock().unwrap() = Some(thread::current().id());
        Ok(())
    }
}
impl CountedResource for Recorded {}

#[test]
fn a_type_that_keeps_the_default_is_never_released_inline() {
    let _s = serial();
    finalizer::flush().unwrap();
    watchdog(LIMIT, || {
        for _ in 0..100 {
            let released = Arc::new(Mutex::new(None));
            drop(Counted::new(Recorded(Arc::clone(&released))));
            finalizer::flush().unwrap();
            let by = released.lock().unwrap().expect("released by the flush");
            assert_ne!(
                by,
                thread::current().id(),
                "released on the dropping thread"
            );
        }
    });
}

#[test]
fn a_drop_inside_a_visit_of_its_own_fd_closes_after_the_visit() {
    let _s = serial();
    finalizer::flush().unwrap();
    watchdog(LIMIT, || {
        let ((n, open_in_visit, closed_after), _) = until_inline(|| {
            let (file, n) = null_file();
            let mut file = Some(file);
            let mut open_in_visit = None;
            fds().for_each(|live| {
                if live.number() == n
                    && let Some(file) = file.take()
                {
                    drop(file);
                    open_in_visit = Some(is_open_null(n));
                }
            });
            (n, open_in_visit, fd_target(n).is_none())
        });
        assert_eq!(
            open_in_visit,
            Some(true),
            "fd {n} closed during its own visit"
        );
        assert!(closed_after, "fd {n} still open after the visit");
        // Another fd dropped during a visit of a different one closes at once.
        let (a, na) = null_file();
        let ((nb, closed_in_visit), _) = until_inline(|| {
            let (b, nb) = null_file();
            let mut b = Some(b);
            let mut closed_in_visit = None;
            fds().for_each(|live| {
                if live.number() == na
                    && let Some(b) = b.take()
                {
                    drop(b);
                    closed_in_visit = Some(fd_target(nb).is_none());
                }
            });
            (nb, closed_in_visit)
        });
        assert_eq!(
            closed_in_visit,
            Some(true),
            "fd {nb} not closed at its drop"
        );
        drop(a);
        finalizer::flush().unwrap();
        assert_eq!(fd_target(na), None);
        assert_eq!(finalizer::stats().pending, 0);
    });
}

#[test]
fn in_a_forked_child_an_isolated_drop_closes_inline() {
    let _s = serial();
    finalizer::flush().unwrap();
    let status = watchdog(LIMIT, || {
        // SAFETY: the child runs only guard calls and `/proc` reads, and ends in `_exit`,
        // never returning into the test harness.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = std::panic::catch_unwind(|| {
                // Bounded, unlike `until_inline`: a child that never releases inline exits
                // with a failure instead of outliving the test.
                for _ in 0..1000 {
                    let before = finalizer::stats().inline_idle;
                    let (file, n) = null_file();
                    drop(file);
                    let closed = fd_target(n).is_none();
                    if finalizer::stats().inline_idle > before {
                        return if closed { 0 } else { 1 };
                    }
                    if finalizer::flush().is_err() {
                        return 3;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                2
            });
            // SAFETY: ends the child at once, without the parent's destructors.
            unsafe { libc::_exit(code.unwrap_or(4)) }
        }
        assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
        let mut status = 0;
        // SAFETY: waits for the child just forked, into a local.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    });
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x} (exit 1: released inline but open; 2: never inline)"
    );
}

/// A counted value that keeps the default and counts its releases.
struct Tally(Arc<std::sync::atomic::AtomicUsize>);

impl Resource for Tally {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
impl CountedResource for Tally {}

#[test]
fn threads_mixing_inline_and_queued_drops_leave_nothing_pending() {
    let _s = serial();
    finalizer::flush().unwrap();
    watchdog(LIMIT, || {
        let registered = fds().len();
        let before = finalizer::stats();
        let tally = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (threads, rounds) = (4, guard_testkit::size(2_000, 50_000));
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let tally = Arc::clone(&tally);
                thread::spawn(move || {
                    for i in 0..rounds {
                        let (file, _) = null_file();
                        // Every few rounds a queued release first: the fd behind it waits.
                        if (i + t) % 3 == 0 {
                            drop(Counted::new(Tally(Arc::clone(&tally))));
                        }
                        drop(file);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        finalizer::flush().unwrap();
        let after = finalizer::stats();
        let fds_dropped = (threads * rounds) as u64;
        let tallied = tally.load(Ordering::SeqCst) as u64;
        assert_eq!(fds().len(), registered, "every fd closed and deregistered");
        assert_eq!(
            after.enqueued - before.enqueued,
            fds_dropped + tallied,
            "{after}"
        );
        assert_eq!(
            after.released - before.released,
            fds_dropped + tallied,
            "{after}"
        );
        assert_eq!(after.pending, 0, "{after}");
    });
}

/// A connected TCP pair whose client has unsent data the server never reads, and
/// `SO_LINGER {on, secs}` set: its `close(2)` waits (up to `secs`) for the peer.
fn lingering_client(secs: u64) -> (std::net::TcpStream, std::net::TcpStream) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // A small receive window, inherited by the accepted socket, so that data stays unsent.
    socket2::SockRef::from(&listener)
        .set_recv_buffer_size(4096)
        .unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let sock = socket2::SockRef::from(&client);
    sock.set_send_buffer_size(4096).unwrap();
    client.set_nonblocking(true).unwrap();
    let chunk = [7u8; 65536];
    let mut c = &client;
    // Fill the client's send buffer and the server's receive window: write until a write
    // after a pause still finds no room.
    loop {
        let mut wrote = false;
        loop {
            match c.write(&chunk) {
                Ok(_) => wrote = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        if !wrote {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    client.set_nonblocking(false).unwrap();
    sock.set_linger(Some(Duration::from_secs(secs))).unwrap();
    (client, server)
}

/// Regression (review of this change): `Fd` wraps any fd, and a TCP socket with
/// `SO_LINGER` and unsent data blocks in `close(2)` until the peer reads. The first
/// version closed it inline, on the dropping thread: the last drop blocked for as long as
/// the peer did (>10 s here, the linger being 60 s). A connected socket's close may wait
/// (`SO_LINGER` can be set at any time), so its last drop goes to the finalizer (F5).
#[test]
fn a_lingering_socket_last_drop_returns_at_once_and_the_finalizer_closes_it() {
    let _s = serial();
    finalizer::flush().unwrap();
    watchdog(LIMIT, || {
        let (client, mut server) = lingering_client(60);
        let n = client.as_raw_fd();
        let fd = Counted::new(guard::os::Fd::adopt(std::os::fd::OwnedFd::from(client)));
        let before = finalizer::stats();
        let (tx, rx) = std::sync::mpsc::channel();
        let dropper = thread::spawn(move || {
            drop(fd);
            tx.send(()).unwrap();
        });
        let returned = rx.recv_timeout(Duration::from_secs(10)).is_ok();
        // Unblock the close wherever it runs: read everything the client sent.
        let drain = thread::spawn(move || std::io::copy(&mut server, &mut std::io::sink()));
        dropper.join().unwrap();
        finalizer::flush().unwrap();
        drain.join().unwrap().unwrap();
        assert!(
            returned,
            "the last drop of a counted Fd (a TCP socket, SO_LINGER 60 s, unsent data) \
             blocked its thread >10 s in close(2)"
        );
        let after = finalizer::stats();
        assert_eq!(after.inline_idle, before.inline_idle, "{after}");
        assert!(
            !fd_target(n).is_some_and(|t| t.starts_with("socket:")),
            "fd {n} never closed"
        );
    });
}

/// Regression (review of this change), without misuse: a read-only file on a FUSE file
/// system. `close(2)` sends FLUSH to the daemon, another process, and waits for its answer
/// (sshfs with a dead link: minutes). Here the daemon (`tests/fuse/slow_flush.py`, raw
/// `/dev/fuse`; needs CAP_SYS_ADMIN, skipped otherwise) answers FLUSH only when the test
/// writes a line. The first version closed it inline and the dropping thread waited for the
/// daemon; a file on a file system outside the local allow-list now goes to the finalizer.
#[test]
fn a_read_only_file_on_a_slow_fuse_fs_is_closed_by_the_finalizer() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let _s = serial();
    finalizer::flush().unwrap();
    let mnt = guard_testkit::temp_path("fuse-mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuse/slow_flush.py");
    let Ok(mut server) = Command::new("python3")
        .arg(script)
        .arg(&mnt)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        eprintln!("skipped: no python3");
        return;
    };
    let mut answer = server.stdin.take().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    if first != "ready" {
        eprintln!("skipped: FUSE mount failed: {first}");
        let _ = server.kill();
        let _ = server.wait();
        let _ = std::fs::remove_dir(&mnt);
        return;
    }
    let path = mnt.join("f");
    let out = guard_testkit::try_watchdog("fuse", LIMIT, move || {
        let before = finalizer::stats();
        let file = Counted::new(ReadFile::open(&path).expect("open on FUSE"));
        let (tx, rx) = std::sync::mpsc::channel();
        let dropper = thread::spawn(move || {
            drop(file);
            tx.send(()).unwrap();
        });
        let returned = rx.recv_timeout(Duration::from_secs(10)).is_ok();
        // Whoever closes it sends FLUSH: answer it.
        let flushed = lines.next().and_then(Result::ok);
        writeln!(answer).unwrap();
        answer.flush().unwrap();
        dropper.join().unwrap();
        finalizer::flush().unwrap();
        (returned, flushed, before, finalizer::stats())
    });
    let c = std::ffi::CString::new(mnt.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: detaches the mount the server made; `c` is a NUL-terminated path that lives
    // across the call.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir(&mnt);
    let (returned, flushed, before, after) = out.expect("hung");
    assert_eq!(
        flushed.as_deref(),
        Some("flush"),
        "the close reached the daemon"
    );
    assert!(
        returned,
        "the last drop of a Counted<ReadFile> on FUSE blocked its thread >10 s in close(2), \
         waiting for the daemon's FLUSH answer"
    );
    assert_eq!(after.inline_idle, before.inline_idle, "{after}");
}
