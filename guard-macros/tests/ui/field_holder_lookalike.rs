use guard::{Resource, UniqueResource};

struct Lock;
impl Resource for Lock {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl UniqueResource for Lock {}

/// Not std's `Option`: the derive goes by the name, then the type check says which it meant.
#[allow(dead_code)]
enum Option<T> {
    Present(T),
    Absent,
}

#[derive(Resource)]
#[resource(unique)]
struct Journal {
    #[resource]
    lock: Option<Lock>,
}

fn main() {}
