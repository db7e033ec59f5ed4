use guard::Resource;

#[derive(Resource)]
#[resource(uniqe)]
struct Journal {
    pending: Vec<u8>,
}

#[derive(Resource)]
#[resource(unique, colour = "red")]
struct Ledger {
    pending: Vec<u8>,
}

fn main() {}
