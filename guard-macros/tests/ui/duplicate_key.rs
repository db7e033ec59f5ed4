use guard::Resource;

#[derive(Resource)]
#[resource(unique, release = Self::flush)]
#[resource(release = Self::sync, unique)]
struct Journal {
    pending: Vec<u8>,
}

impl Journal {
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {}
