//! Compile-fail tests: each `tests/ui/<case>.rs` must fail with exactly the diagnostics in
//! `<case>.stderr`.
//!
//! The snapshots were made with **rustc 1.95.0**, the project's stable toolchain. Diagnostics drift between compiler versions, so on any other toolchain the test
//! is skipped (ignored), not failed. After a toolchain bump, regenerate them with
//! `TRYBUILD=overwrite cargo test -p guard-macros --test compiletest` and review every diff.

#[rustversion::attr(not(stable(1.95)), ignore = "UI snapshots are for rustc 1.95.0")]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
