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
    #[resource(unique)]
    lock: Lock,
}

fn main() {}
