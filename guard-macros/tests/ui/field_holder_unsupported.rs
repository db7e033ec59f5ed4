use guard::{Resource, UniqueResource};
use std::collections::VecDeque;
use std::rc::Rc;

struct Lock;
impl Resource for Lock {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Ok(())
    }
}
impl UniqueResource for Lock {}

// `#[resource]` sees through `Option`, `Box`, `Vec`, arrays and boxed slices only: a shared
// `Rc` cannot be released by one holder; tuples, `VecDeque` and `Box<dyn _>` stay refused.
#[derive(Resource)]
#[resource(unique)]
struct Session {
    #[resource]
    shared: Rc<Lock>,
    #[resource]
    pair: (Lock, Lock),
    #[resource]
    queue: VecDeque<Lock>,
    #[resource]
    any: Box<dyn std::any::Any>,
}

fn main() {}
