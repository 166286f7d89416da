//! Which cgroup layout a host has: v1 (one hierarchy per controller, as on hosts whose `cgroup2`
//! at `/sys/fs/cgroup/unified` is empty) or v2 (one unified hierarchy).
//!
//! Detection reads `/proc/self/mountinfo` and keeps only mounts under the configured base
//! directory; when none are there (a fake tree in a test, a chroot without `/proc`), it falls back
//! to looking at the files under the base. A host counts as v1 when a v1 `memory` hierarchy is
//! mounted, whatever else is mounted beside it; this module only reads, it never writes.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Controllers a v1 mount's super options may name; other options (`rw`, `name=systemd`, …) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// The cgroup layout of this host, with the paths the isolator works under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// cgroup v1: each controller name maps to the mount point of its hierarchy (co-mounted
    /// controllers such as `cpu,cpuacct` map to the same directory).
    V1 { controllers: BTreeMap<String, PathBuf> },
    /// cgroup v2: the unified hierarchy's mount point.
    V2 { root: PathBuf },
}

impl CgroupVersion {
    /// Reads the layout under `base` (normally `/sys/fs/cgroup`) from `/proc/self/mountinfo`,
    /// falling back to the directory layout under `base` when no cgroup is mounted there.
    pub fn detect(base: &Path) -> Option<CgroupVersion> {
        let from_mounts =
            fs::read_to_string("/proc/self/mountinfo").ok().and_then(|text| CgroupVersion::from_mountinfo(&text, base));
        from_mounts.or_else(|| CgroupVersion::from_layout(base))
    }

    /// Parses `/proc/self/mountinfo` text, keeping mounts at or under `base`. `None` when neither
    /// a v1 `memory` hierarchy nor a `cgroup2` file system is mounted there.
    pub fn from_mountinfo(text: &str, base: &Path) -> Option<CgroupVersion> {
        let mut controllers = BTreeMap::new();
        let mut unified: Option<PathBuf> = None;
        for line in text.lines() {
            let Some((mount, fs_type, options)) = parse_mountinfo_line(line) else { continue };
            if !mount.starts_with(base) {
                continue;
            }
            match fs_type {
                "cgroup" => {
                    for name in options.split(',').filter(|o| V1_CONTROLLERS.contains(o)) {
                        controllers.entry(name.to_owned()).or_insert_with(|| mount.clone());
                    }
                }
                // Prefer the shallowest cgroup2 mount (the host's root over nested bind mounts).
                "cgroup2" if unified.as_ref().is_none_or(|u| mount.components().count() < u.components().count()) => {
                    unified = Some(mount);
                }
                _ => {}
            }
        }
        if controllers.contains_key("memory") {
            Some(CgroupVersion::V1 { controllers })
        } else {
            unified.map(|root| CgroupVersion::V2 { root })
        }
    }

    /// Recognises a layout from the files under `base`: v2 when `base/cgroup.controllers` exists,
    /// v1 when a subdirectory named after controllers (`memory`, `cpu,cpuacct`, …) holds a
    /// `cgroup.procs` and one of them is `memory`.
    pub fn from_layout(base: &Path) -> Option<CgroupVersion> {
        if base.join("cgroup.controllers").is_file() {
            return Some(CgroupVersion::V2 { root: base.to_owned() });
        }
        let mut controllers = BTreeMap::new();
        for entry in fs::read_dir(base).ok()?.flatten() {
            let path = entry.path();
            if !path.join("cgroup.procs").is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            for controller in name.split(',').filter(|c| V1_CONTROLLERS.contains(c)) {
                controllers.entry(controller.to_owned()).or_insert_with(|| path.clone());
            }
        }
        controllers.contains_key("memory").then_some(CgroupVersion::V1 { controllers })
    }

    /// `"v1"` or `"v2"`.
    pub fn name(&self) -> &'static str {
        match self {
            CgroupVersion::V1 { .. } => "v1",
            CgroupVersion::V2 { .. } => "v2",
        }
    }
}

impl fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupVersion::V1 { controllers } => {
                let names: Vec<&str> = controllers.keys().map(String::as_str).collect();
                write!(f, "cgroup v1 ({})", names.join(", "))
            }
            CgroupVersion::V2 { root } => write!(f, "cgroup v2 at {}", root.display()),
        }
    }
}

/// The mount point, file system type and super options of one mountinfo line:
/// `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FS_TYPE SOURCE SUPER_OPTIONS`.
fn parse_mountinfo_line(line: &str) -> Option<(PathBuf, &str, &str)> {
    let (left, right) = line.split_once(" - ")?;
    let mount = left.split_whitespace().nth(4)?;
    let mut right = right.split_whitespace();
    let fs_type = right.next()?;
    let options = right.nth(1).unwrap_or("");
    Some((PathBuf::from(unescape_octal(mount)), fs_type, options))
}

/// Undoes mountinfo's octal escapes of space, tab, newline and backslash (`\040` → ` `).
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        let octal = digits.filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This host: v1 controllers (cpu and cpuacct mounted apart), `name=systemd`, an empty cgroup2.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const PURE_V2: &str = "\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    const NONE: &str = "\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
23 22 0:5 / /proc rw,nosuid - proc proc rw
";

    const COMOUNTED: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory
";

    fn base() -> &'static Path {
        Path::new("/sys/fs/cgroup")
    }

    #[test]
    fn hybrid_host_is_v1_with_each_controller_mount() {
        let Some(CgroupVersion::V1 { controllers }) = CgroupVersion::from_mountinfo(HYBRID, base()) else {
            panic!("expected v1");
        };
        let names: Vec<&str> = controllers.keys().map(String::as_str).collect();
        assert_eq!(names, ["cpu", "cpuacct", "memory", "pids"]);
        assert_eq!(controllers["cpuacct"], Path::new("/sys/fs/cgroup/cpuacct"));
        assert_eq!(controllers["memory"], Path::new("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn pure_v2_and_no_cgroups() {
        assert_eq!(
            CgroupVersion::from_mountinfo(PURE_V2, base()),
            Some(CgroupVersion::V2 { root: PathBuf::from("/sys/fs/cgroup") })
        );
        assert_eq!(CgroupVersion::from_mountinfo(NONE, base()), None);
        // Mounts outside the base are ignored.
        assert_eq!(CgroupVersion::from_mountinfo(HYBRID, Path::new("/elsewhere")), None);
    }

    #[test]
    fn comounted_controllers_and_escaped_mount_points() {
        let Some(CgroupVersion::V1 { controllers }) = CgroupVersion::from_mountinfo(COMOUNTED, base()) else {
            panic!("expected v1");
        };
        assert_eq!(controllers["cpu"], controllers["cpuacct"]);
        assert_eq!(controllers["memory"], Path::new("/sys/fs/cgroup/mem ory"));
        assert_eq!(CgroupVersion::V1 { controllers }.to_string(), "cgroup v1 (cpu, cpuacct, memory)");
    }

    #[test]
    fn layout_detection_on_fake_trees() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(CgroupVersion::from_layout(dir.path()), None);
        for name in ["memory", "cpu,cpuacct", "unified"] {
            fs::create_dir(dir.path().join(name))?;
            fs::write(dir.path().join(name).join("cgroup.procs"), "")?;
        }
        let Some(CgroupVersion::V1 { controllers }) = CgroupVersion::from_layout(dir.path()) else {
            panic!("expected v1");
        };
        assert_eq!(controllers.keys().collect::<Vec<_>>(), ["cpu", "cpuacct", "memory"]);
        let v2 = tempfile::tempdir()?;
        fs::write(v2.path().join("cgroup.controllers"), "cpu memory pids\n")?;
        assert_eq!(CgroupVersion::from_layout(v2.path()), Some(CgroupVersion::V2 { root: v2.path().to_owned() }));
        Ok(())
    }
}
