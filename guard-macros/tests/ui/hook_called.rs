use guard::Resource;

#[derive(Resource)]
#[resource(unique, release = Self::flush())]
struct Journal {
    pending: Vec<u8>,
}

impl Journal {
    fn flush(&mut self) -> std::io::Result<()> {
        self.pending.clear();
        Ok(())
    }
}

fn main() {}
