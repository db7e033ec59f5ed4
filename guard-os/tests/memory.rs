//! Memory per registered fd: the registry slot plus any heap the fd types allocate per fd,
//! measured with a counting allocator (target: at most 64 bytes, design doc's benchmark
//! list). Alone in its test binary, with one test, so no other thread allocates meanwhile.

use guard_os::{PipeReader, PipeWriter, ReadFile, WriteFile, fds, pipe};

#[global_allocator]
static ALLOC: guard_testkit::Counting = guard_testkit::Counting::new();

fn live() -> isize {
    ALLOC.live()
}

/// Registers fds with `open` until `target` are registered, keeping them in `held` (which
/// has room for all of them already).
fn fill<T>(held: &mut Vec<T>, target: usize, open: &mut impl FnMut() -> T) {
    while fds().len() < target {
        held.push(open());
    }
    assert_eq!(fds().len(), target);
}

/// Heap bytes per registered fd, measured from `from` to 4096 live fds.
fn bytes_per_fd<T>(from: usize, mut open: impl FnMut() -> T) -> f64 {
    let mut held: Vec<T> = Vec::with_capacity(4096);
    fill(&mut held, from, &mut open);
    let before = live();
    fill(&mut held, 4096, &mut open);
    let grown = live() - before;
    drop(held); // closes everything (unique leaves: reported as unreleased, harmless)
    grown as f64 / (4096 - from) as f64
}

#[test]
fn a_registered_fd_costs_at_most_64_bytes() {
    guard_core::event::set_hook(|_| {}); // the unique leaves below are dropped unreleased
    // Warm up: the registry, its report section.
    ReadFile::open("/dev/null").unwrap().close().unwrap();
    assert_eq!(
        fds().len(),
        0,
        "alone in this binary: nothing else registered"
    );

    // The registry's slab holds exactly 2048, then exactly 4096 slots (its `Vec` doubles
    // from 4): between them, 2048 slots plus whatever the 2048 new fds allocated.
    // Each creation site is interned once (its origin and census tally, a few hundred
    // bytes per site, not per fd): warm every site up before measuring.
    let open_read = || ReadFile::open("/dev/null").unwrap();
    let open_write = || WriteFile::append("/dev/null").unwrap();
    let open_pipe = || pipe().unwrap();
    drop((open_read(), open_write(), open_pipe()));
    let slot = bytes_per_fd(2048, open_read);
    // The slab keeps its 4096 slots (vacant now): from here on, only what the fd types
    // allocate per fd shows.
    let extra_read = bytes_per_fd(0, open_read);
    let extra_write = bytes_per_fd(0, open_write);
    let extra_pipe = bytes_per_fd(0, open_pipe);
    eprintln!(
        "per registered fd: registry slot {slot} B; heap in the types: ReadFile {extra_read} B, \
         WriteFile {extra_write} B, pipe end {extra_pipe} B; inline: ReadFile {} B, \
         WriteFile {} B, PipeReader {} B, PipeWriter {} B",
        size_of::<ReadFile>(),
        size_of::<WriteFile>(),
        size_of::<PipeReader>(),
        size_of::<PipeWriter>()
    );
    assert!(slot <= 64.0, "{slot} B per registry slot");
    assert_eq!(slot % 8.0, 0.0, "whole slots: {slot}");
    for (what, bytes) in [
        ("ReadFile", extra_read),
        ("WriteFile", extra_write),
        ("pipe", extra_pipe),
    ] {
        assert_eq!(
            bytes, 0.0,
            "{what} allocates {bytes} B per fd before any use"
        );
    }
    assert_eq!(
        size_of::<ReadFile>(),
        24,
        "key 16 + number 4 + type tag 1, padded"
    );
}
