use guard::Resource;

#[derive(Resource)]
#[resource(unique, crate = guard2)]
struct Journal {
    pending: Vec<u8>,
}

fn main() {}
