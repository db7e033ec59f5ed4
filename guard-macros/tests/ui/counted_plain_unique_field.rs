use guard::Resource;

/// A writable file: closing it reports write-back errors, so it is unique.
struct WriteFile;
impl guard::Resource for WriteFile {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl guard::UniqueResource for WriteFile {}

// The unique resource in a field not marked `#[resource]`: it would be dropped, never
// released, when the last handle goes.
#[derive(Resource)]
#[resource(counted)]
struct Session {
    log: WriteFile,
    id: u64,
}

fn main() {
    // No cascade at the use site: the error is at the field.
    let _ = guard::Counted::new(Session { log: WriteFile, id: 0 });
}
