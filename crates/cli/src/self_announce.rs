//! The scheduler's self-announcement lives in `atoll-server` (`self_announce.rs`); this is the
//! name `args.rs` gives its default path by, until `args.rs` and `main.rs` name it there.

pub use atoll_server::DEFAULT_SCHEDULER_PATH;
