use guard::Resource;

// Through `Option`, `Box`, `Vec` and arrays, the error points at what is not a resource.
#[derive(Resource)]
#[resource(unique)]
struct Journal {
    #[resource]
    count: Option<u32>,
    #[resource]
    names: Vec<Box<String>>,
    #[resource]
    grid: [[u8; 2]; 3],
}

fn main() {}
