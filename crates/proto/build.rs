//! Compiles `proto/atoll/v1/*.proto` with protox (no protoc needed) into prost messages and
//! tonic services, and writes the file descriptor set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let files = [
        "atoll/v1/types.proto",
        "atoll/v1/scheduler.proto",
        "atoll/v1/agent.proto",
        "atoll/v1/logs.proto",
        "atoll/v1/admin.proto",
        "atoll/v1/registry.proto",
        "atoll/v1/updates.proto",
        "atoll/v1/cron.proto",
        "atoll/v1/events.proto",
        "atoll/v1/frameworks.proto",
        "atoll/v1/executor.proto",
    ];
    let descriptors = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("atoll_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
