// `#[resource(site)]` marks the creation site: a `&'static std::panic::Location<'static>`.
// The error points at the field's type.

#[derive(guard::Resource)]
#[resource(unique)]
struct Session {
    id: u64,
    #[resource(site)]
    site: u32,
}

#[derive(guard::Resource)]
#[resource(unique)]
enum Conn {
    Open {
        #[resource(site)]
        at: std::panic::Location<'static>,
    },
}

fn main() {}
