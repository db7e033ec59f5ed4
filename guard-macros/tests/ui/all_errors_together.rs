use guard::Resource;

#[derive(Resource)]
#[resource(uniqe, release = "flush")]
enum Conn {
    #[resource]
    Idle,
    Open {
        #[resource(tls)]
        socket: u32,
    },
}

fn main() {}
