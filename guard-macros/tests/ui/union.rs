use guard::Resource;

#[derive(Resource)]
#[resource(unique)]
union Either {
    fd: u32,
    handle: u64,
}

fn main() {}
