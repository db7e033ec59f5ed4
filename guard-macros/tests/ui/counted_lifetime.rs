use guard::Resource;

#[derive(Resource)]
#[resource(counted)]
struct Snapshot<'a> {
    name: &'a str,
}

fn main() {}
