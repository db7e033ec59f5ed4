use guard::Resource;
use std::collections::VecDeque;

/// A writable file: closing it reports write-back errors, so it is unique.
struct WriteFile;
impl guard::Resource for WriteFile {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl guard::UniqueResource for WriteFile {}

/// A read-only file: counted, so it may sit anywhere in a counted type.
struct ReadFile;
impl guard::Resource for ReadFile {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl guard::CountedResource for ReadFile {}

// Unique resources held through what the derive can see into: each is an error at the
// unique type's own tokens; the counted ones, plain data and `Rc`-free fields are fine.
#[derive(Resource)]
#[resource(counted)]
enum Sessions {
    One {
        maybe: Option<WriteFile>,
        boxed: Box<WriteFile>,
        ok: Option<ReadFile>,
    },
    Many([WriteFile; 2], (u64, Vec<WriteFile>), VecDeque<Option<ReadFile>>),
    Deep(Option<Box<(std::string::String, WriteFile)>>),
}

fn main() {}
