//! What this machine offers when `--resources` is not given: its cores, memory and the free
//! space of the work directory's file system.

use std::path::Path;

use atoll_model::{AgentResources, agent::DEFAULT_PORTS};

/// Reads the machine's own resources. Memory comes from `/proc/meminfo`, disk from the file
/// system holding `work_dir`.
pub fn machine_resources(work_dir: &Path) -> std::io::Result<AgentResources> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let mem_mb =
        parse_mem_total_kb(&meminfo).ok_or_else(|| std::io::Error::other("/proc/meminfo has no MemTotal line"))? / 1024;
    let stat = nix::sys::statvfs::statvfs(work_dir).map_err(std::io::Error::from)?;
    let disk_mb = stat.blocks_available() as u64 * stat.fragment_size() as u64 / (1024 * 1024);
    Ok(AgentResources { cpus, mem_mb, disk_mb, gpus: 0, ports: vec![DEFAULT_PORTS] })
}

fn parse_mem_total_kb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_total() {
        assert_eq!(parse_mem_total_kb("MemFree: 1 kB\nMemTotal:       24576000 kB\n"), Some(24_576_000));
        assert_eq!(parse_mem_total_kb("nothing"), None);
    }

    #[test]
    fn this_machine_has_resources() {
        let dir = tempfile::tempdir().unwrap();
        let resources = machine_resources(dir.path()).unwrap();
        assert!(resources.cpus >= 1.0);
        assert!(resources.mem_mb > 0);
        assert!(resources.disk_mb > 0);
    }
}
