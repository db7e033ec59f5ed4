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
struct Journal {
    #[resource]
    lock: Lock,
}

fn main() {
    // No cascade: the fallback impls let the rest of the program type-check.
    let _ = guard::scope(|s| {
        let _journal = s.enter(Journal { lock: Lock });
        Ok::<_, std::convert::Infallible>(())
    });
}
