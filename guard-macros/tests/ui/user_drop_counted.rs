use guard::Resource;

#[derive(Resource)]
#[resource(counted)]
struct Snapshot {
    pending: Vec<u8>,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.pending.clear();
    }
}

fn main() {}
