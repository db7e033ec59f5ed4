use guard::Resource;

struct WriteFile;
impl guard::Resource for WriteFile {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl guard::UniqueResource for WriteFile {}

#[derive(Resource)]
#[resource(unique)]
struct Journal {
    #[resource()]
    file: WriteFile,
}

#[derive(Resource)]
#[resource(unique)]
enum Output {
    Closed,
    File(#[resource()] WriteFile),
}

fn main() {}
