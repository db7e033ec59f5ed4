//! A `for_each` pass delays only the close of the fd it is visiting (issue 14): another
//! thread's close of an fd the pass has leased but not reached happens at once (number and
//! port free); a close of the fd under visit happens when that visit returns.
//!
//! One test in its own binary: the registry holds only this test's fds, so both fds are in
//! the pass's first batch.
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

mod common;

use guard_os::{ReadFile, TcpListener, fds};
use std::os::fd::AsRawFd;
use std::sync::mpsc;

#[test]
fn a_pass_delays_only_the_close_of_the_fd_under_visit() {
    common::watchdog(30, || {
        let visited = ReadFile::open("/dev/null").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (v, l) = (visited.as_raw_fd(), listener.as_raw_fd());
        let (l_was, v_was) = (
            guard_testkit::fd_target(l).unwrap(),
            guard_testkit::fd_target(v).unwrap(),
        );

        let (in_visit, wait_in_visit) = mpsc::channel();
        let (go, wait_go) = mpsc::channel::<()>();
        let pass = std::thread::spawn(move || {
            let mut first = None;
            fds().for_each(|fd| {
                if first.is_none() {
                    first = Some(fd.number());
                    in_visit.send(fd.number()).unwrap();
                    wait_go.recv().unwrap();
                }
            });
        });
        let first = wait_in_visit.recv().unwrap();
        assert_eq!(first, v, "the pass visits the older fd first");

        // Leased by the pass's batch, not under visit: closed now, the port free now.
        listener.close().expect("close");
        assert_ne!(
            guard_testkit::fd_target(l),
            Some(l_was),
            "fd {l} still open"
        );
        let again = std::net::TcpListener::bind(("127.0.0.1", port));
        assert!(again.is_ok(), "port {port} still bound: {again:?}");
        drop(again);

        // Under visit: closed when the visit returns.
        visited.close().expect("close");
        assert_eq!(
            guard_testkit::fd_target(v),
            Some(v_was.clone()),
            "closed under visit"
        );
        go.send(()).unwrap();
        pass.join().unwrap();
        assert_ne!(
            guard_testkit::fd_target(v),
            Some(v_was),
            "fd {v} still open"
        );
    });
}
