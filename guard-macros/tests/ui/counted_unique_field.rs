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

#[derive(Resource)]
#[resource(counted)]
struct Snapshot {
    #[resource]
    file: WriteFile,
    len: u64,
}

fn main() {
    // No cascade at the use site: the error is at the field.
    let _ = guard::Counted::new(Snapshot { file: WriteFile, len: 0 });
}
