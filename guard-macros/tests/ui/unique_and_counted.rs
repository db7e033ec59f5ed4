use guard::Resource;

#[derive(Resource)]
#[resource(unique, counted)]
struct Journal {
    pending: Vec<u8>,
}

fn main() {}
