use guard::Resource;

#[derive(Resource)]
#[resource(unique, crate = "my guard")]
struct Journal {
    pending: Vec<u8>,
}

fn main() {}
