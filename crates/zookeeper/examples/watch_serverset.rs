//! An example consumer: prints the endpoints of a ServerSet's ALIVE members whenever they change.
//!
//! `cargo run -p atoll-zookeeper --example watch_serverset -- 127.0.0.1:2181 /aurora/www-data/prod/web [ENDPOINT]`

use atoll_zookeeper::{Resolver, ZooKeeperError};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ZooKeeperError> {
    let mut args = std::env::args().skip(1);
    let (Some(ensemble), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: watch_serverset ENSEMBLE PATH [ENDPOINT]");
        std::process::exit(2);
    };
    let endpoint = args.next();
    let resolver = Resolver::connect(&ensemble).await?;
    let mut watch = resolver.watch(&path, endpoint.as_deref()).await?;
    loop {
        let endpoints = watch.next().await?;
        let shown: Vec<String> = endpoints.iter().map(|e| format!("{}:{}", e.host, e.port)).collect();
        println!("{path}: {}", if shown.is_empty() { "no ALIVE members".to_owned() } else { shown.join(" ") });
    }
}
