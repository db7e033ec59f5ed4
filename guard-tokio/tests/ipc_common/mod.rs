//! Set-up the async `IpcMutex` suites share.

/// Whether another handle (another thread, as another process would) can take the OS
/// lock now.
pub fn free_for_others(n: &str) -> bool {
    let n = n.to_owned();
    std::thread::spawn(move || {
        let other = guard_os::IpcMutex::open(&n).unwrap();
        let got = other.try_lock().unwrap().map(guard_os::IpcLock::unlock);
        got.is_some()
    })
    .join()
    .unwrap()
}
