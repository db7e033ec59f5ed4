//! `Resource::created` of guard-tokio's lock guards: the acquisition site, which a derived
//! type holding one reports as its own creation site.

use guard_core::Resource;
use std::sync::Arc;

#[test]
fn each_lock_guard_names_the_call_that_acquired_it() {
    let name = format!("guard-tokio-test-created-{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let line_of = |r: &dyn Fn() -> Option<guard_core::Created>| {
            let created = r().expect("a site");
            assert_eq!(created.site().file(), file!());
            assert_eq!(created.action(), "acquired");
            created.site().line()
        };

        let ipc = guard_tokio::IpcMutex::open(&name).unwrap();
        let (held, at) = (ipc.lock().await.unwrap(), line!());
        assert_eq!(line_of(&|| held.created()), at, "IpcLock");
        held.unlock().unwrap();
        let (held, at) = (ipc.lock_poisoned().await.unwrap(), line!());
        assert_eq!(line_of(&|| held.created()), at, "IpcLock, lock_poisoned");
        held.unlock().unwrap();

        let m = Arc::new(guard_tokio::lock::Mutex::new(0));
        let (guard, at) = (m.lock().await, line!());
        assert_eq!(line_of(&|| guard.created()), at, "MutexGuard");
        drop(guard);
        let (guard, at) = (m.try_lock().unwrap(), line!());
        assert_eq!(line_of(&|| guard.created()), at, "MutexGuard, try_lock");
        drop(guard);
        let (owned, at) = (m.clone().lock_owned().await, line!());
        assert_eq!(line_of(&|| owned.created()), at, "OwnedMutexGuard");
    });
    guard_os::IpcMutex::remove(&name).unwrap();
}
