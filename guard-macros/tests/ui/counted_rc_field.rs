use guard::Resource;
use std::rc::Rc;

struct ReadFile;
impl guard::Resource for ReadFile {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl guard::CountedResource for ReadFile {}

#[derive(Resource)]
#[resource(counted)]
struct Snapshot {
    #[resource]
    file: ReadFile,
    cache: Rc<Vec<u8>>,
}

fn main() {}
