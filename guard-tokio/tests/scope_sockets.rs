//! Async scopes with real sockets (guard-os's): a release that awaits, then writes a
//! goodbye frame and closes; the peer checks it got the frame exactly once, then EOF, at
//! the end of the scope and when the scope's future is dropped at any await point, on a
//! runtime and outside one. Each under a watchdog.

mod scope_kit;

use guard_tokio::{AsyncRelease, scope};
use scope_kit::{YieldOnce, poll_n, poll_to_end};
use std::future::Future;
use std::io::{Read, Write};
use std::pin::pin;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A connection whose release awaits twice (a flush, say), then says goodbye and closes.
struct Goodbye<S: Write + Send + 'static> {
    name: &'static str,
    stream: S,
    close: fn(S) -> guard_os::Result<()>,
}

impl<S: Write + Send + 'static> AsyncRelease for Goodbye<S> {
    type Error = std::io::Error;
    async fn release_async(mut self) -> std::io::Result<()> {
        YieldOnce::default().await;
        YieldOnce::default().await;
        let frame = format!("bye {}\n", self.name);
        let said = self.stream.write_all(frame.as_bytes());
        let closed = (self.close)(self.stream).map_err(std::io::Error::from);
        said.and(closed)
    }
}

fn unix(name: &'static str) -> (Goodbye<guard_os::UnixStream>, guard_os::UnixStream) {
    let (a, b) = guard_os::UnixStream::pair().unwrap();
    b.set_read_timeout(Some(LIMIT)).unwrap();
    let close = guard_os::UnixStream::close as fn(_) -> _;
    (
        Goodbye {
            name,
            stream: a,
            close,
        },
        b,
    )
}

fn tcp(name: &'static str) -> (Goodbye<guard_os::TcpStream>, guard_os::TcpStream) {
    let listener = guard_os::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = guard_os::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    b.set_read_timeout(Some(LIMIT)).unwrap();
    let close = guard_os::TcpStream::close as fn(_) -> _;
    (
        Goodbye {
            name,
            stream: a,
            close,
        },
        b,
    )
}

/// Everything the peer reads until EOF.
fn read_all(mut peer: impl Read) -> String {
    let mut got = String::new();
    peer.read_to_string(&mut got).unwrap();
    got
}

/// A peer's name and what it read until EOF, read when called.
type Peer = Box<dyn FnOnce() -> (String, String) + Send>;

/// The peers of one scope: a TCP connection and two Unix ones, entered in that order with
/// await points between; each writes `hello NAME` while the body runs.
fn the_scope() -> (
    impl Future<Output = Result<(), guard_core::ScopeError<std::io::Error>>> + Send,
    [Peer; 3],
) {
    let (t, tp) = tcp("tcp");
    let (u1, u1p) = unix("u1");
    let (u2, u2p) = unix("u2");
    let future = scope(async move |s| {
        let mut t = s.enter(t);
        t.stream.write_all(b"hello tcp\n")?;
        YieldOnce::default().await;
        let mut u1 = s.enter(u1);
        u1.stream.write_all(b"hello u1\n")?;
        YieldOnce::default().await;
        let mut u2 = s.enter(u2);
        u2.stream.write_all(b"hello u2\n")?;
        YieldOnce::default().await;
        Ok(())
    });
    let peers: [Peer; 3] = [
        Box::new(move || ("tcp".into(), read_all(tp))),
        Box::new(move || ("u1".into(), read_all(u1p))),
        Box::new(move || ("u2".into(), read_all(u2p))),
    ];
    (future, peers)
}

/// What each peer got is `hello NAME` if the body got that far, then `bye NAME` exactly
/// once (a connection entered is said goodbye to), then EOF; a connection never entered
/// is closed with nothing said (its value was dropped with the body's future unentered).
fn check(peers: Vec<(String, String)>, k: usize) {
    for (name, got) in peers {
        let hello = format!("hello {name}\n");
        let bye = format!("bye {name}\n");
        let ok = got.is_empty() || got == bye || got == format!("{hello}{bye}");
        assert!(ok, "after {k} polls, {name}'s peer got {got:?}");
    }
}

#[test]
fn each_peer_gets_its_goodbye_then_eof_at_the_end_of_the_scope() {
    guard_testkit::watchdog(LIMIT, || {
        let (future, peers) = the_scope();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(future).unwrap();
        let got: Vec<_> = peers.into_iter().map(|p| p()).collect();
        assert_eq!(
            got,
            [
                ("tcp".into(), "hello tcp\nbye tcp\n".into()),
                ("u1".into(), "hello u1\nbye u1\n".into()),
                ("u2".into(), "hello u2\nbye u2\n".into()),
            ]
        );
    });
}

fn polls_to_end() -> usize {
    let (future, peers) = the_scope();
    let (result, polls) = poll_to_end(pin!(future));
    result.unwrap();
    check(peers.into_iter().map(|p| p()).collect(), polls);
    polls
}

#[test]
fn a_scope_dropped_at_any_await_point_outside_a_runtime_says_every_goodbye_before_the_drop_returns()
{
    guard_testkit::watchdog(LIMIT, || {
        let n = polls_to_end();
        for k in 0..n {
            let (future, peers) = the_scope();
            {
                let mut future = pin!(future);
                assert!(poll_n(future.as_mut(), k).is_none());
            }
            // Read only now, after the drop: had a release been left for later, the peer
            // would time out rather than see its goodbye.
            check(peers.into_iter().map(|p| p()).collect(), k);
        }
    });
}

#[test]
fn a_scope_dropped_at_any_await_point_on_a_multi_thread_runtime_says_every_goodbye_once() {
    guard_testkit::watchdog(LIMIT, || {
        let n = polls_to_end();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for k in 0..n {
                let (future, peers) = the_scope();
                {
                    let mut future = pin!(future);
                    assert!(poll_n(future.as_mut(), k).is_none());
                }
                // The peers read on the blocking pool while the cleanup task says goodbye.
                let mut got = Vec::new();
                for peer in peers {
                    got.push(tokio::task::spawn_blocking(peer).await.unwrap());
                }
                check(got, k);
            }
        });
    });
}
