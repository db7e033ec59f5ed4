//! Socket passing end to end, with real processes: a parent passes listeners with
//! `Inherit::listen_fds`, a child (this binary, re-executed in a role) takes them with
//! `listen_fds()` and serves on them; a wrong pid yields nothing; malformed values, a
//! closed fd and a number already registered are typed errors; a second take yields
//! nothing; a second thread makes `listen_fds()` refuse (`listen_fds_unchecked` then
//! takes); and the in-place re-exec recipe of `CommandExt::inherit` hands a listener over.
//!
//! `harness = false`: `listen_fds()` removes the `LISTEN_*` variables only in a process
//! whose only thread calls it, and libtest runs each test on a thread of its own, so the
//! children must be plain `main`s. The role is dispatched first thing in `main`, before any
//! thread. The parent runs each case under a 60 s watchdog; every child is killed after
//! 60 s, and every socket read has a timeout.

mod common;

use common::{payload, wait_output, watchdog};
use guard_os::{
    CommandExt, Error, Inherit, ListenFds, ReadFile, TcpListener, TcpStream, UnixListener,
    UnixStream, fds, listen_fds, listen_fds_command, listen_fds_unchecked,
};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    if cfg!(not(target_os = "linux")) {
        // Its checks read /proc/self/fd and /proc/self/fdinfo (the README's "Platforms").
        println!("listen_fds: skipped, Linux only");
        return ExitCode::SUCCESS;
    }
    if let Some(role) = common::role() {
        play(&role); // a panic here fails the child: the parent shows its stderr
        return ExitCode::SUCCESS;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let cases: [(&str, fn()); 11] = [
        (
            "a_child_takes_working_listeners",
            a_child_takes_working_listeners,
        ),
        ("another_pid_yields_nothing", another_pid_yields_nothing),
        (
            "a_missing_pid_is_accepted_only_when_asked",
            a_missing_pid_is_accepted_only_when_asked,
        ),
        (
            "malformed_values_are_typed_errors",
            malformed_values_are_typed_errors,
        ),
        ("a_second_take_yields_nothing", a_second_take_yields_nothing),
        (
            "a_registered_number_is_refused",
            a_registered_number_is_refused,
        ),
        (
            "a_number_whose_close_a_lease_defers_is_refused",
            a_number_whose_close_a_lease_defers_is_refused,
        ),
        (
            "listen_pidfdid_is_removed_too",
            listen_pidfdid_is_removed_too,
        ),
        (
            "threads_make_it_refuse_and_unchecked_takes",
            threads_make_it_refuse_and_unchecked_takes,
        ),
        (
            "the_in_place_reexec_recipe_hands_the_listener_over",
            the_in_place_reexec_recipe_hands_the_listener_over,
        ),
        (
            "spawn_sets_listen_pid_without_a_shell",
            spawn_sets_listen_pid_without_a_shell,
        ),
    ];
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, case) in cases {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let outcome = std::panic::catch_unwind(|| watchdog(60, case));
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(name);
        }
    }
    println!(
        "\ntest result: {} passed; {} failed",
        ran - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ----- the parent's side -----

/// This binary in `role`, with no `LISTEN_*` of the parent's; through
/// `listen_fds_command` (so `LISTEN_PID` is the child's pid) if `own_pid`.
fn child(role: &str, own_pid: bool) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = if own_pid {
        listen_fds_command(&exe)
    } else {
        Command::new(&exe)
    };
    cmd.env("GUARD_OS_TEST_ROLE", role)
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_FDNAMES")
        .env_remove("LISTEN_PIDFDID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to its end (at most 60 s): its payload as `key -> value` (`key value` lines).
fn report(cmd: &mut Command) -> BTreeMap<String, String> {
    finish(cmd.spawn().expect("spawn"))
}

fn finish(child: std::process::Child) -> BTreeMap<String, String> {
    let out = wait_output(child, 60);
    assert!(
        out.status.success(),
        "child failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    payload(&out)
        .into_iter()
        .map(|l| match l.split_once(' ') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l, String::new()),
        })
        .collect()
}

/// What one connection to a child's listener reads (the child writes, then releases it).
fn read_all(mut stream: impl Read) -> String {
    let mut got = String::new();
    stream
        .read_to_string(&mut got)
        .expect("read from the child");
    got
}

fn a_child_takes_working_listeners() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp.local_addr().unwrap();
    let path = common::temp_path("take.sock");
    let unix = UnixListener::bind(&path).unwrap();
    let mut cmd = child("take", true);
    cmd.inherit(Inherit::new().listen_fds(&[&tcp, &unix]))
        .unwrap();
    cmd.env("LISTEN_FDNAMES", "web:ctl"); // after inherit, which removes it
    let spawned = cmd.spawn().expect("spawn");
    let pid = spawned.id();
    drop(cmd); // ends the leases: the child holds the only other copies now
    tcp.close().unwrap();
    unix.close().unwrap();

    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(read_all(&c), format!("tcp from {pid}"));
    c.close().unwrap();
    let u = UnixStream::connect(&path).unwrap();
    u.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(read_all(&u), format!("unix from {pid}"));
    u.close().unwrap();

    let got = finish(spawned);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(got["count"], "2");
    assert_eq!(got["names"], "web,ctl");
    assert_eq!(got["fd3"], std::any::type_name::<TcpListener>());
    assert_eq!(got["fd4"], std::any::type_name::<UnixListener>());
    assert_eq!(got["site"], "the listen_fds call");
    assert_eq!(got["cloexec"], "3 4");
    assert_eq!(got["env"], "none");
    assert_eq!(got["grandchild_env"], "unset unset unset");
    assert_eq!(got["again"], "0");
}

fn another_pid_yields_nothing() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = child("other_pid", false);
    cmd.inherit(Inherit::new().listen_fds(&[&tcp])).unwrap();
    cmd.env("LISTEN_PID", std::process::id().to_string()); // ours, not the child's
    let got = report(&mut cmd);
    assert_eq!(got["count"], "0");
    assert_eq!(
        got["env"], "none",
        "removed all the same, as sd_listen_fds(1) does"
    );
    assert_eq!(got["fd3"], "open untracked", "left alone");
}

fn a_missing_pid_is_accepted_only_when_asked() {
    for (role, count, fd3) in [
        ("missing_pid_strict", "0", "open untracked"),
        ("missing_pid_accept", "1", "open registered"),
    ] {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut cmd = child(role, false);
        cmd.inherit(Inherit::new().listen_fds(&[&tcp])).unwrap(); // LISTEN_FDS=1, no LISTEN_PID
        let got = report(&mut cmd);
        assert_eq!(got["count"], count, "{role}");
        assert_eq!(got["env"], "none", "{role}: removed either way");
        assert_eq!(got["fd3"], fd3, "{role}");
    }
}

fn malformed_values_are_typed_errors() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    // (variable, value, the error the child must get)
    let cases = [
        ("LISTEN_PID", "abc", "invalid LISTEN_PID"),
        ("LISTEN_PID", "-5", "invalid LISTEN_PID"),
        ("LISTEN_PID", "0", "invalid LISTEN_PID"),
        ("LISTEN_FDS", "x", "invalid LISTEN_FDS"),
        ("LISTEN_FDS", "-1", "invalid LISTEN_FDS"),
        ("LISTEN_FDS", " 1", "invalid LISTEN_FDS"),
        ("LISTEN_FDS", "2147483645", "invalid LISTEN_FDS"), // 3 + n - 1 > i32::MAX
        ("LISTEN_FDS", "99999999999999999999", "invalid LISTEN_FDS"),
        ("LISTEN_FDNAMES", "a:b", "invalid LISTEN_FDNAMES"), // two names, one fd
        ("LISTEN_FDS", "2", "closed 4"),                     // one fd passed, two claimed
        ("LISTEN_FDS", "0", "ok 0"),                         // nothing passed: not an error
    ];
    for (var, value, want) in cases {
        // LISTEN_PID is the child's own (through the shell), unless the case replaces it.
        let mut cmd = child("malformed", var != "LISTEN_PID");
        cmd.inherit(Inherit::new().listen_fds(&[&tcp])).unwrap();
        cmd.env(var, value);
        let got = report(&mut cmd);
        assert_eq!(got["result"], want, "{var}={value}");
        assert_eq!(
            got["env"], "none",
            "{var}={value}: the variables are consumed"
        );
        assert_eq!(got["registered"], "0", "{var}={value}: nothing taken");
        assert_eq!(got["again"], "0", "{var}={value}");
    }
}

fn a_second_take_yields_nothing() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = child("twice", true);
    cmd.inherit(Inherit::new().listen_fds(&[&tcp])).unwrap();
    let got = report(&mut cmd);
    assert_eq!(got["first"], "1");
    assert_eq!(got["second"], "0", "variables set again: still taken once");
    assert_eq!(got["env"], "none");
    assert_eq!(
        got["fd3"],
        format!("1 {}", std::any::type_name::<TcpListener>())
    );
}

fn a_registered_number_is_refused() {
    // LISTEN_FDS=1 but nothing passed: fd 3 is free at exec, and the child opens a file
    // there before it calls listen_fds().
    let mut cmd = child("registered", true);
    cmd.inherit(Inherit::new()).unwrap().env("LISTEN_FDS", "1");
    let got = report(&mut cmd);
    assert_eq!(
        got["result"],
        format!("registered 3 {}", std::any::type_name::<ReadFile>())
    );
    assert_eq!(got["file"], "still readable");
}

fn a_number_whose_close_a_lease_defers_is_refused() {
    // As above, but the file at fd 3 is closed while a `for_each` pass visits it: its entry
    // is removed and its close deferred to the visit's end, so fd 3 must still be refused.
    let mut cmd = child("closing", true);
    cmd.inherit(Inherit::new()).unwrap().env("LISTEN_FDS", "1");
    let got = report(&mut cmd);
    assert_eq!(
        got["result"],
        format!("registered 3 {}", std::any::type_name::<ReadFile>())
    );
    assert_eq!(got["fd3"], "closed with the lease, owned by nobody");
}

fn listen_pidfdid_is_removed_too() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = child("other_pid", false);
    cmd.inherit(Inherit::new().listen_fds(&[&tcp])).unwrap();
    // As newer systemd sets them: LISTEN_PIDFDID beside LISTEN_PID (another pid here).
    cmd.env("LISTEN_PID", std::process::id().to_string())
        .env("LISTEN_PIDFDID", "123456");
    let got = report(&mut cmd);
    assert_eq!(got["count"], "0");
    assert_eq!(got["env"], "none", "LISTEN_PIDFDID removed with the others");
}

fn threads_make_it_refuse_and_unchecked_takes() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = child("threads", true);
    cmd.inherit(Inherit::new().listen_fds(&[&tcp])).unwrap();
    let got = report(&mut cmd);
    assert_eq!(got["checked"], "threads 2");
    assert_eq!(
        got["env_after_refusal"], "LISTEN_PID LISTEN_FDS",
        "nothing changed"
    );
    assert_eq!(got["unchecked"], "1 listening");
    assert_eq!(got["env"], "none");
}

fn the_in_place_reexec_recipe_hands_the_listener_over() {
    let got = report(&mut child("exec0", false));
    assert_eq!(got["image"], "1", "{got:?}");
    assert!(got["addr"].starts_with("127.0.0.1:"), "{got:?}");
    assert_eq!(
        got["addr"], got["addr0"],
        "the same socket, bound by image 0"
    );
    assert_eq!(got["fds"], "0 1 2 3");
    assert_eq!(got["served"], "hello from image 1");
}

/// guard's own spawn execs the program itself (no `/bin/sh`), and the child, before its
/// `execve`, writes its own pid into `LISTEN_PID`: the child reads it equal to its pid and
/// takes the listener.
fn spawn_sets_listen_pid_without_a_shell() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let cmd = child("own_pid", false);
    assert_eq!(
        cmd.get_program(),
        std::env::current_exe().unwrap(),
        "no shell"
    );
    let mut spawn = guard_os::Spawn::from_command(&cmd)
        .stdin(guard_os::Stdio::Null)
        .stdout(guard_os::Stdio::Piped)
        .stderr(guard_os::Stdio::Piped)
        .inherit(Inherit::new().listen_fds(&[&tcp]))
        .unwrap();
    // SAFETY: this case runs alone on its thread; nothing reads the environment meanwhile.
    unsafe { std::env::set_var("LISTEN_PID", "1") }; // a stale value of ours: replaced
    let spawned = spawn.spawn().unwrap();
    // SAFETY: as above.
    unsafe { std::env::remove_var("LISTEN_PID") };
    let pid = spawned.id();
    let out = spawned.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "child failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: BTreeMap<String, String> = payload(&out)
        .into_iter()
        .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.into(), v.into())))
        .collect();
    assert_eq!(got["listen_pid"], pid.to_string(), "{got:?}");
    assert_eq!(got["own_pid"], pid.to_string(), "{got:?}");
    assert_eq!(got["count"], "1", "{got:?}");
    assert_eq!(
        got["fd3"],
        std::any::type_name::<guard_os::Fd>(),
        "taken, registered"
    );
}

// ----- the children's side -----

fn play(role: &str) {
    match role {
        "take" => take(),
        "other_pid" => other_pid(),
        "missing_pid_strict" => missing_pid(false),
        "missing_pid_accept" => missing_pid(true),
        "malformed" => malformed(),
        "twice" => twice(),
        "registered" => registered(),
        "closing" => closing(),
        "threads" => threads(),
        "exec0" => exec0(),
        "exec1" => exec1(),
        "own_pid" => own_pid(),
        other => panic!("unknown role {other}"),
    }
}

fn say(key: &str, value: impl std::fmt::Display) {
    println!("{key} {value}");
}

/// Which `LISTEN_*` variables are set, or `none`.
fn env() -> String {
    let set: Vec<&str> = [
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "LISTEN_PIDFDID",
    ]
    .into_iter()
    .filter(|v| std::env::var_os(v).is_some())
    .collect();
    if set.is_empty() {
        "none".into()
    } else {
        set.join(" ")
    }
}

/// The registered type of fd `n`, if registered.
fn registered_as(n: i32) -> Option<&'static str> {
    let mut ty = None;
    fds().for_each(|fd| {
        if fd.number() == n {
            ty = Some(fd.type_name());
        }
    });
    ty
}

/// Reports `LISTEN_PID` as found, its own pid, and what `listen_fds()` takes.
fn own_pid() {
    let listen_pid = std::env::var("LISTEN_PID").unwrap_or_else(|_| "unset".into());
    let passed = listen_fds().expect("listen_fds");
    println!("BEGIN");
    say("listen_pid", listen_pid);
    say("own_pid", std::process::id());
    say("count", passed.len());
    say("fd3", registered_as(3).unwrap_or("-"));
    println!("END");
}

fn take() {
    let (passed, line) = (listen_fds(), line!());
    let mut passed = passed.expect("listen_fds");
    println!("BEGIN");
    say("count", passed.len());
    say("names", passed.names().expect("LISTEN_FDNAMES").join(","));
    let site = passed.fds()[0].registered_origin().unwrap().site();
    assert_eq!((site.file(), site.line()), (file!(), line));
    let web = TcpListener::try_from(passed.take_named("web").unwrap()).unwrap();
    let ctl = UnixListener::try_from(passed.take_named("ctl").unwrap()).unwrap();
    assert!(passed.is_empty());
    say("fd3", registered_as(3).unwrap_or("-"));
    say("fd4", registered_as(4).unwrap_or("-"));
    for n in [web.as_raw_fd(), ctl.as_raw_fd()] {
        let mut site = None;
        fds().for_each(|fd| {
            if fd.number() == n {
                site = Some((fd.site().file(), fd.site().line()));
            }
        });
        assert_eq!(
            site,
            Some((file!(), line)),
            "fd {n}: the site kept through TryFrom"
        );
    }
    say("site", "the listen_fds call");
    let cloexec: Vec<String> = [web.as_raw_fd(), ctl.as_raw_fd()]
        .into_iter()
        .filter(|&n| is_cloexec(n))
        .map(|n| n.to_string())
        .collect();
    say("cloexec", cloexec.join(" "));
    say("env", env());
    let out = Command::new("/bin/sh")
        .args([
            "-c",
            "echo ${LISTEN_PID-unset} ${LISTEN_FDS-unset} ${LISTEN_FDNAMES-unset}",
        ])
        .output()
        .unwrap();
    say(
        "grandchild_env",
        String::from_utf8_lossy(&out.stdout).trim(),
    );
    say("again", listen_fds().unwrap().len());
    println!("END");
    let pid = std::process::id();
    let (conn, _) = web.accept().unwrap();
    (&conn)
        .write_all(format!("tcp from {pid}").as_bytes())
        .unwrap();
    conn.close().unwrap();
    let conn = ctl.accept().unwrap();
    (&conn)
        .write_all(format!("unix from {pid}").as_bytes())
        .unwrap();
    conn.close().unwrap();
}

fn is_cloexec(n: i32) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{n}")).unwrap();
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
    u32::from_str_radix(flags.trim(), 8).unwrap() & libc::O_CLOEXEC as u32 != 0
}

fn other_pid() {
    let passed = listen_fds().expect("listen_fds");
    say_passed(&passed);
}

fn missing_pid(accept: bool) {
    assert!(std::env::var_os("LISTEN_PID").is_none());
    assert_eq!(std::env::var("LISTEN_FDS").as_deref(), Ok("1"));
    let options = guard_os::ListenOptions::new().accept_missing_pid(accept);
    say_passed(&options.take().expect("take"));
}

/// Reports what was taken, the environment and fd 3.
fn say_passed(passed: &ListenFds) {
    println!("BEGIN");
    say("count", passed.len());
    say("env", env());
    let untracked = guard_os::untracked().unwrap().iter().any(|u| u.number == 3);
    let open = std::path::Path::new("/proc/self/fd/3").exists();
    say(
        "fd3",
        match (open, untracked) {
            (true, true) => "open untracked",
            (true, false) => "open registered",
            (false, _) => "closed",
        },
    );
    println!("END");
}

fn describe(r: &guard_os::Result<ListenFds>) -> String {
    match r {
        Ok(l) => format!("ok {}", l.len()),
        Err(Error::ListenFdsInvalid { var, .. }) => format!("invalid {var}"),
        Err(Error::ListenFdsClosed { fd, source }) => {
            assert_eq!(source.raw_os_error(), Some(libc::EBADF));
            format!("closed {fd}")
        }
        Err(Error::ListenFdsRegistered { fd, type_name }) => format!("registered {fd} {type_name}"),
        Err(Error::ListenFdsThreads { threads }) => format!("threads {threads}"),
        Err(e) => format!("other {e}"),
    }
}

fn malformed() {
    let r = listen_fds();
    println!("BEGIN");
    say("result", describe(&r));
    say("env", env());
    say("registered", fds().len());
    say("again", listen_fds().unwrap().len());
    println!("END");
}

fn twice() {
    let first = listen_fds().expect("listen_fds");
    println!("BEGIN");
    say("first", first.len());
    let l = TcpListener::try_from(first.into_fds().remove(0)).unwrap();
    let pid = std::process::id().to_string();
    // SAFETY: this process has one thread (this one): nothing reads the environment.
    unsafe {
        std::env::set_var("LISTEN_PID", &pid);
        std::env::set_var("LISTEN_FDS", "1");
    }
    say("second", listen_fds().expect("listen_fds").len());
    say("env", env());
    let mut count = 0;
    fds().for_each(|fd| count += usize::from(fd.number() == 3));
    say(
        "fd3",
        format!("{count} {}", registered_as(3).unwrap_or("-")),
    );
    println!("END");
    l.close().unwrap();
}

fn registered() {
    let file = ReadFile::open("/dev/null").unwrap();
    assert_eq!(file.as_raw_fd(), 3, "fd 3 was free at exec");
    let r = listen_fds();
    println!("BEGIN");
    say("result", describe(&r));
    let mut buf = [0u8; 1];
    let read = (&file).read(&mut buf).map(|n| n == 0);
    say(
        "file",
        if matches!(read, Ok(true)) {
            "still readable"
        } else {
            "broken"
        },
    );
    println!("END");
}

fn closing() {
    let file = ReadFile::open("/dev/null").unwrap();
    assert_eq!(file.as_raw_fd(), 3, "fd 3 was free at exec");
    // Closed during a `for_each` visit of fd 3: the close is deferred to the end of the
    // visit, and `listen_fds()` runs before it.
    let mut file = Some(file);
    let mut r = None;
    guard_os::fds().for_each(|fd| {
        if fd.number() == 3
            && let Some(file) = file.take()
        {
            file.close().unwrap(); // deferred: the visit's lease keeps fd 3 open
            r = Some(listen_fds());
        }
    });
    let r = r.expect("fd 3 visited");
    println!("BEGIN");
    say("result", describe(&r));
    // Never released: if fd 3 was claimed, the deferred close closed it behind its back.
    let claimed = r.map_or(0, |passed| std::mem::ManuallyDrop::new(passed).len());
    let open = std::path::Path::new("/proc/self/fd/3").exists();
    say(
        "fd3",
        match (open, claimed > 0) {
            (false, false) => "closed with the lease, owned by nobody",
            (_, true) => "claimed, then closed under its new owner",
            (true, false) => "still open",
        },
    );
    println!("END");
}

fn threads() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || rx.recv()); // blocks; reads no environment
    let refused = listen_fds();
    println!("BEGIN");
    say("checked", describe(&refused));
    say("env_after_refusal", env());
    // SAFETY: the only other thread blocks in `recv` and reads no environment meanwhile.
    let passed = unsafe { listen_fds_unchecked() }.expect("listen_fds_unchecked");
    let n = passed.len();
    let l = TcpListener::try_from(passed.into_fds().remove(0)).unwrap();
    l.set_nonblocking(true).unwrap();
    let idle = l.accept().unwrap_err().raw_os_error() == Some(libc::EAGAIN);
    say(
        "unchecked",
        format!("{n} {}", if idle { "listening" } else { "?" }),
    );
    say("env", env());
    println!("END");
    drop(tx);
    let _ = other.join();
}

/// Image 0 of the in-place re-exec: binds, then execs this binary as image 1 with the
/// recipe of `CommandExt::inherit`'s docs.
fn exec0() {
    assert!(listen_fds().unwrap().is_empty());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.inherit(Inherit::new().listen_fds(&[&l]))
        .unwrap()
        .env("GUARD_OS_TEST_ROLE", "exec1")
        .env("IMAGE0_ADDR", l.local_addr().unwrap().to_string())
        .env("LISTEN_PID", std::process::id().to_string()); // after inherit
    let error = cmd.exec();
    panic!("exec failed: {error}");
}

/// Image 1: takes the listener, serves one connection to itself, reports.
fn exec1() {
    let at_start = common::open_fds();
    let mut passed = listen_fds().expect("listen_fds").into_fds();
    assert_eq!(passed.len(), 1);
    let l = TcpListener::try_from(passed.remove(0)).unwrap();
    let addr = l.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        let got = read_all(&c);
        c.close().unwrap();
        got
    });
    let (conn, _) = l.accept().unwrap();
    (&conn).write_all(b"hello from image 1").unwrap();
    conn.close().unwrap();
    let served = client.join().unwrap();
    println!("BEGIN");
    say("image", 1);
    say("addr", addr);
    say("addr0", std::env::var("IMAGE0_ADDR").unwrap());
    let fds: Vec<String> = at_start.iter().map(i32::to_string).collect();
    say("fds", fds.join(" "));
    say("served", served);
    println!("END");
}
