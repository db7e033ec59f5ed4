// One creation site per value, and a field is a resource or the site, not both.

use std::panic::Location;

#[derive(guard::Resource)]
#[resource(unique)]
struct Twice {
    #[resource(site)]
    opened: &'static Location<'static>,
    #[resource(site)]
    connected: &'static Location<'static>,
}

#[derive(guard::Resource)]
#[resource(unique)]
struct Both {
    #[resource]
    #[resource(site)]
    site: &'static Location<'static>,
}

fn main() {}
