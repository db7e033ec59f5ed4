use guard::{Resource, UniqueResource};

struct WriteFile;
impl Resource for WriteFile {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl UniqueResource for WriteFile {}

// A counted type may hold counted parts through `Option` or `Vec`, never unique ones.
#[derive(Resource)]
#[resource(counted)]
struct Snapshot {
    #[resource]
    log: Option<WriteFile>,
    #[resource]
    files: Vec<WriteFile>,
}

fn main() {}
