use guard::Resource;

#[derive(Resource)]
#[resource(unique)]
struct Journal {
    #[resource]
    count: u32,
    pending: Vec<u8>,
}

fn main() {}
