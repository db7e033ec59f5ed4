use guard::Resource;

struct Lock;
impl guard::Resource for Lock {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl guard::UniqueResource for Lock {}

#[derive(Resource)]
#[resource(unique)]
struct Journal {
    #[resource]
    lock: Lock,
    pending: Vec<u8>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.pending.clear();
    }
}

fn main() {}
