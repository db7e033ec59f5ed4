//! The census out of the way: `report()` over 10,000 creation sites, and what a thread
//! meeting a new site pays meanwhile.
//!
//! `census/new_site_during_report`: a fresh thread's first `Counted::new` (its site is new
//! to the thread, so it is looked up under the census lock, as a site new to the process
//! is), with no report running (`idle`) and while another thread takes reports over
//! 10,000 live sites in a loop (`reporting_10k`). The thread spawn is in both rows; the
//! difference is the wait for the lock.
//!
//! `cargo bench --bench census`

use criterion::{Criterion, criterion_group, criterion_main};
use guard::census::{Live, Origin};
use guard::{Counted, CountedResource, Kind, Resource};
use std::hint::black_box;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const SITES: usize = 10_000;

/// A counted resource that releases nothing.
struct Unit;

impl Resource for Unit {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl CountedResource for Unit {}

/// `SITES` live resources, each of its own origin (a leaked type name per site).
fn sites() -> Vec<Live> {
    (0..SITES)
        .map(|i| {
            let name: &'static str = Box::leak(format!("bench::Site{i}").into_boxed_str());
            Live::new(Origin::new(Kind::Unique, name, Location::caller()))
        })
        .collect()
}

fn first_new_on_a_fresh_thread() {
    std::thread::scope(|s| {
        s.spawn(|| black_box(Counted::new(Unit)));
    });
}

fn report(c: &mut Criterion) {
    let _sites = sites();
    let mut g = c.benchmark_group("census/report_10k");
    g.bench_function("report", |b| b.iter(|| black_box(guard::report())));
    g.bench_function("report_to_string", |b| {
        b.iter(|| black_box(guard::report().to_string()))
    });
    g.finish();
}

fn new_site(c: &mut Criterion) {
    let _sites = sites();
    let mut g = c.benchmark_group("census/new_site_during_report");
    g.bench_function("idle", |b| b.iter(first_new_on_a_fresh_thread));
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                black_box(guard::report());
            }
        })
    };
    g.bench_function("reporting_10k", |b| b.iter(first_new_on_a_fresh_thread));
    stop.store(true, Ordering::Relaxed);
    reporter.join().expect("the reporter");
    g.finish();
}

criterion_group!(benches, report, new_site);
criterion_main!(benches);
