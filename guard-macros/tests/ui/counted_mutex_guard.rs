use guard::Resource;
use std::sync::MutexGuard;

#[derive(Resource)]
#[resource(counted)]
struct Held {
    guard: MutexGuard<'static, u64>,
}

fn main() {}
