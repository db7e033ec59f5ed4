use guard::Resource;

#[derive(Resource)]
#[resource(unique, release = Self::flush)]
struct Journal {
    pending: Vec<u8>,
}

impl Journal {
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {}
